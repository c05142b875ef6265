# -*- coding: utf-8 -*-
"""Action plugin: the status report (module_utils/status.py) from crm_mon, the catalog, the audit and the
nodes' events logs."""

from __future__ import annotations

import urllib.error

from ansible_collections.glance_ha.ha.plugins.module_utils import audit, report_files, status
from ansible_collections.glance_ha.ha.plugins.module_utils.deploy_host_action import DeployHostAction

DOCUMENTATION = r"""
module: status_report
short_description: Nodes, quorum, VIP holders, monitors, endpoints, the audit summary, recent events
options:
  crm_mon:
    description: crm_mon --output-as=xml --include=all of the glance hosts that answered
    type: list
    elements: str
  settings:
    description: The ha_resources role's names (drain_attribute, link_attributes, failure_timeout).
    type: dict
    default: {}
  events:
    description: The last lines of each glance host's events log (host -> list of lines).
    type: dict
    default: {}
  events_limit: {description: How many recent events to show (0 - all that were read)., type: int, default: 20}
  keystone_url: {description: Keystone v3 URL., type: str, required: true}
  password: {description: Admin password., type: str, required: true, no_log: true}
  vip_addresses: {description: VIP resource id -> address., type: dict, required: true}
  audit: {description: The audit report (glance_ha_audit_report's report)., type: dict}
  dest: {description: Write the JSON report there and its text at I(dest).txt (empty - do not)., type: str, default: ""}
"""


class ActionModule(DeployHostAction):
    def act(self, a, task_vars):
        cluster = None
        for xml in a.get("crm_mon") or []:
            if xml:
                cluster = status.parse_crm_mon(xml, a.get("settings") or {})
                break
        recent = status.events_mod.merge_events((a.get("events") or {}).values(),
                                                limit=int(a.get("events_limit", 20)))
        try:
            _, catalog = audit.keystone_auth(a["keystone_url"], "admin", a["password"])
            endpoints = [dict(e, answer=status.probe(e["url"])) for e in status.image_endpoints(catalog)]
        except (OSError, urllib.error.URLError, ValueError) as e:
            endpoints = [{"interface": "keystone", "url": a["keystone_url"], "answer": f"{e}"}]
        report = status.build(cluster, endpoints, a.get("audit") or None, dict(a["vip_addresses"]), recent)
        text = status.render(report)
        report_files.write_report(a.get("dest") or "", report, text)
        return {"report": report, "lines": text.splitlines()}
