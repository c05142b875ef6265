# -*- coding: utf-8 -*-
"""Action plugin: put the hosts' answers together (audit.build_report), print the table,
write the JSON report, and fail when any cell is not ok."""

from __future__ import annotations

from ansible_collections.glance_ha.ha.plugins.module_utils import audit, report_files
from ansible_collections.glance_ha.ha.plugins.module_utils.deploy_host_action import DeployHostAction

DOCUMENTATION = r"""
module: audit_report
short_description: The audit table and JSON from every glance host's glance_ha_store_audit result
options:
  files: {description: glance_ha_audit_files' files., type: list, elements: dict, required: true}
  hosts: {description: The glance hosts (columns)., type: list, elements: str, required: true}
  results: {description: host -> its registered glance_ha_store_audit result., type: dict, required: true}
  dest: {description: Write the JSON report there and its text at I(dest).txt (empty - do not)., type: str, default: ""}
  fail_on_problems: {description: Fail when any cell is not ok., type: bool, default: true}
"""


class ActionModule(DeployHostAction):
    def act(self, a, task_vars):
        report = audit.build_report(a["files"], list(a["hosts"]), dict(a["results"]))
        table = audit.render_table(report)
        report_files.write_report(a.get("dest") or "", report, table)
        failed = not report["ok"] and a.get("fail_on_problems", True)
        return {"report": report, "table": table.splitlines(), "msg": report["summary"], "failed": bool(failed)}
