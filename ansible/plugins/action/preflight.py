# -*- coding: utf-8 -*-
"""Action plugin: judge the inventory on the deploy host (module_utils/preflight.py) and touch nothing.

It runs entirely in the controller process: no module is shipped to any host, so a broken
inventory stops the play before the first connection.
"""

from __future__ import annotations


from ansible.plugins.action import ActionBase

from ansible_collections.glance_ha.ha.plugins.module_utils import preflight

DOCUMENTATION = r"""
module: preflight
short_description: Check a glance-ha inventory before any host is touched
description:
  - Runs C(module_utils.preflight.check) on the deploy host and fails with one message listing
    every problem, each naming the inventory variable at fault and the fix.
options:
  node_names: {description: Inventory names of the glance hosts., type: list, elements: str}
  node_addresses: {description: Their glance_ha_internal_address, same order., type: list}
  node_public_addresses: {description: Their glance_ha_public_address, same order., type: list}
  node_cluster_addresses:
    description: Their glance_ha_cluster_address (second corosync link; empty where unset), same order.
    type: list
  glance_group: {description: Name of the inventory group of glance hosts., type: str}
  internal_vip: {description: Internal VIP., type: str}
  internal_prefix: {description: Prefix length of the internal network., type: raw}
  public_vip: {description: Public VIP (may be empty)., type: str}
  public_prefix: {description: Prefix length of the public network., type: raw}
  cluster_prefix: {description: Prefix length of the second corosync link's network., type: raw}
  api_port: {description: glance-api port., type: raw}
  two_node: {description: corosync two_node handling., type: raw}
  qdevice_host: {description: corosync-qnetd host., type: str}
  stonith_enabled: {description: Whether Pacemaker fences., type: raw}
  fence_devices: {description: Fencing devices., type: list, elements: dict}
  store_names: {description: Names of glance_api_stores., type: list, elements: str}
  store_paths: {description: Their paths, same order., type: list, elements: str}
  store_shared: {description: Their shared flags (default true), same order., type: list}
  allow_unshared_stores: {description: glance_api_allow_unshared_stores., type: raw}
  passwords:
    description: For each password variable, whether it is set (a boolean, never the secret).
    type: dict
"""


class ActionModule(ActionBase):
    """Collects every problem and fails once with all of them."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        errors = preflight.check(args)
        result["changed"] = False
        result["problems"] = errors
        if errors:
            result["failed"] = True
            result["msg"] = preflight.report(errors)
        else:
            result["msg"] = "preflight: inventory OK (%d glance hosts)" % len(args.get("node_names") or [])
        return result
