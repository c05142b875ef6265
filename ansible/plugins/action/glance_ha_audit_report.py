# -*- coding: utf-8 -*-
"""Action plugin: put the hosts' answers together (glance_ha.audit.build_report), print the table,
write the JSON report, and fail when any cell is not ok."""

from __future__ import annotations

import json
import os
import sys

from ansible.plugins.action import ActionBase

DOCUMENTATION = r"""
module: glance_ha_audit_report
short_description: The audit table and JSON from every glance host's glance_ha_store_audit result
options:
  files: {description: glance_ha_audit_files' files., type: list, elements: dict, required: true}
  hosts: {description: The glance hosts (columns)., type: list, elements: str, required: true}
  results: {description: host -> its registered glance_ha_store_audit result., type: dict, required: true}
  dest: {description: Write the JSON report there (empty - do not)., type: str, default: ""}
  fail_on_problems: {description: Fail when any cell is not ok., type: bool, default: true}
"""


def _import_audit():
    try:
        from glance_ha import audit
    except ImportError:
        sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))
        from glance_ha import audit
    return audit


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        audit = _import_audit()
        a = self._task.args
        report = audit.build_report(a["files"], list(a["hosts"]), dict(a["results"]))
        if a.get("dest"):
            with open(a["dest"], "w", encoding="utf-8") as f:
                json.dump(report, f, indent=2)
        result["changed"] = False
        result["report"] = report
        result["table"] = audit.render_table(report).splitlines()
        result["msg"] = report["summary"]
        if not report["ok"] and a.get("fail_on_problems", True):
            result["failed"] = True
        return result
