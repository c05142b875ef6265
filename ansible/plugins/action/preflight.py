# -*- coding: utf-8 -*-
"""Action plugin: judge the inventory on the deploy host (module_utils/preflight.py) and touch nothing.

It runs entirely in the controller process: no module is shipped to any host, so a broken
inventory stops the play before the first connection.

Besides the inventory-wide values the task passes, it judges every variable of every role on
every host the role runs on (role_groups): each host's value is the inventory's (or an extra
var's) when set, else the role's default templated with that host's variables, as the role would
see it; the roles' specs and defaults are read from the collection's roles/ directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from ansible.template import Templar

from ansible_collections.glance_ha.ha.plugins.module_utils import preflight
from ansible_collections.glance_ha.ha.plugins.module_utils.deploy_host_action import DeployHostAction

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
  region: {description: glance_ha_region., type: raw}
  db_host: {description: glance_ha_db_host., type: raw}
  keystone_url: {description: glance_ha_keystone_url., type: raw}
  role_groups:
    description: The inventory group each role runs on, {role name, group}; each of its hosts has
      every variable of the role judged (spec, semantic checks, unknown variables of its prefix).
    type: dict
  deploy_host_prefixes:
    description: Role prefixes judged on the deploy host itself (the preflight role's own).
    type: list
    elements: str
"""

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"


class ActionModule(DeployHostAction):
    """Collects every problem and fails once with all of them."""

    def act(self, args, task_vars):
        role_groups = args.pop("role_groups", None) or {}
        deploy_prefixes = args.pop("deploy_host_prefixes", None) or []
        errors = preflight.check(args)
        flagged = {m.group(1) for m in (re.match(r"(glance_ha_\w+)", e) for e in errors) if m}
        roles = preflight.load_roles(ROLES_DIR)
        problems = self._check_roles(task_vars, roles, role_groups, flagged)
        problems += preflight.check_unknown(
            "localhost", {k: v for k, v in task_vars.items()
                          if any(k.startswith(p) for p in deploy_prefixes)},
            roles, deploy_prefixes)
        errors += preflight.merge(problems)
        if errors:
            return {"problems": errors, "failed": True, "msg": preflight.report(errors)}
        return {"problems": [], "msg": "preflight: inventory OK (%d glance hosts)" % len(args.get("node_names") or [])}

    def _check_roles(self, task_vars, roles, role_groups, flagged):
        """[(host, problem)] of every role variable on every host of its group."""
        groups = task_vars.get("groups") or {}
        hostvars = task_vars.get("hostvars")
        by_group = {}
        for role, group in role_groups.items():
            if role in roles:
                by_group.setdefault(group, []).append(roles[role])
        problems = []
        for group, group_roles in by_group.items():
            # the roles of one play see each other's defaults (cluster_dc_deadtime reads
            # ha_resources_dc_deadtime), and their internal vars
            # and those of the roles they depend on (the names role's constants)
            deps = [roles[d] for role in group_roles for d in role.dependencies if d in roles]
            shared = {}
            for role in deps + group_roles:
                shared.update(role.defaults)
            for role in deps + group_roles:
                shared.update(role.vars)
            hosts = list(groups.get(group) or [])
            for host in hosts:
                raw = dict(hostvars.raw_get(host))
                for role in group_roles:
                    namespace = {**shared, **raw, "hostvars": hostvars,
                                 "role_path": str(ROLES_DIR / role.name),
                                 "ansible_play_hosts_all": hosts, "ansible_play_hosts": hosts}
                    templar = Templar(loader=self._loader, variables=namespace)
                    values, unresolved = {}, {}
                    for name in role.options:
                        source = raw[name] if name in raw else role.defaults.get(name)
                        try:
                            values[name] = templar.template(source, fail_on_undefined=True)
                        except Exception as exc:  # any templating error is the operator's to fix
                            unresolved[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    found = preflight.check_host(
                        host, role, values, {n for n in role.options if n in raw},
                        unresolved=unresolved, groups=groups, play_hosts=hosts, flagged=flagged)
                    problems += found or self._ansible_spec(host, role, values, unresolved, raw, flagged)
                prefixes = [p for p, r in preflight.ROLE_PREFIXES.items()
                            if r in {role.name for role in group_roles}]
                problems += preflight.check_unknown(host, {k: v for k, v in raw.items()
                                                           if any(k.startswith(p) for p in prefixes)},
                                                    roles, prefixes)
        return problems

    @staticmethod
    def _ansible_spec(host, role, values, unresolved, raw, flagged):
        """What Ansible's own argument spec check (the one each role runs when it starts) says of
        the values preflight passed: a safety net, so that no role stops on its spec later."""
        from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

        given = {k: v for k, v in values.items() if k not in unresolved}
        result = ArgumentSpecValidator(role.options).validate(given, validate_role_argument_spec=True)
        problems = []
        for error in result.errors:
            message = str(getattr(error, "msg", error))
            names = [n for n in role.options if n in message] or ["?"]
            name = max(names, key=len)
            if name not in raw and preflight.derived_from(role, name, flagged):
                continue  # reported once, as the inventory-wide variable it is made from
            secret = role.options.get(name, {}).get("no_log") or any(
                o.get("no_log") for o in (role.options.get(name, {}).get("options") or {}).values())
            shown = preflight.SECRET if secret else repr(values.get(name))
            what = "is refused by the role's argument spec" if secret else message
            problems.append((host, f"{name} = {shown}: {what}; fix it as "
                                   f"roles/{role.name}/README.md describes {name}"))
        return problems
