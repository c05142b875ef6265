"""Preflight checks of a glance-ha inventory, run on the deploy host before any host is touched.

`check(settings)` takes plain data (what the `glance_ha.ha.preflight` action plugin gathers from the
inventory, or what a test builds) and returns the list of problems, each one line that names the
inventory variable at fault and says how to fix it. It collects every problem instead of stopping
at the first, so an operator fixes the inventory in one pass. It never raises on bad input: bad
input is what it reports.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

# The variables an operator sets, named once so messages and the action plugin agree.
INTERNAL_VIP = "glance_ha_internal_vip"
INTERNAL_PREFIX = "glance_ha_internal_prefix"
INTERNAL_ADDRESS = "glance_ha_internal_address"
PUBLIC_VIP = "glance_ha_public_vip"
PUBLIC_PREFIX = "glance_ha_public_prefix"
PUBLIC_ADDRESS = "glance_ha_public_address"
CLUSTER_ADDRESS = "glance_ha_cluster_address"  # the second corosync link (knet link 1), optional
CLUSTER_PREFIX = "glance_ha_cluster_prefix"
API_PORT = "glance_ha_api_port"
TWO_NODE = "cluster_two_node"
QDEVICE = "cluster_qdevice_host"
STONITH = "ha_resources_stonith_enabled"
FENCE_DEVICES = "ha_resources_fence_devices"
STORES = "glance_api_stores"
ALLOW_UNSHARED = "glance_api_allow_unshared_stores"

#: Every secret the roles need, with what it is for (used in the message).
PASSWORD_VARIABLES = {
    "glance_ha_db_password": "the glance database user's password",
    "glance_ha_service_password": "the glance service user's Keystone password",
    "glance_ha_keystone_admin_password": "the Keystone admin password, used to create the glance "
    "user and endpoints",
}


@dataclass
class Node:
    """One host of the glance group, as the inventory describes it."""

    name: str
    address: Any = ""
    public_address: Any = ""
    cluster_address: Any = ""


@dataclass
class Settings:
    """The inventory values preflight judges (plain strings/ints as Ansible templated them)."""

    nodes: list[Node] = field(default_factory=list)
    glance_group: str = "glance"
    internal_vip: Any = ""
    internal_prefix: Any = 24
    public_vip: Any = ""
    public_prefix: Any = 24
    cluster_prefix: Any = 24
    api_port: Any = 9292
    two_node: Any = False
    qdevice_host: Any = ""
    stonith_enabled: Any = True
    fence_devices: list = field(default_factory=list)
    passwords: dict = field(default_factory=dict)
    # glance_api_stores as {name, path, shared}: shared is true unless the operator says false
    stores: list = field(default_factory=list)
    allow_unshared_stores: Any = False

    @classmethod
    def from_dict(cls, data: dict) -> "Settings":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["nodes"] = [n if isinstance(n, Node) else Node(**n) for n in data.get("nodes") or []]
        if "node_names" in data:  # the action plugin's form: parallel lists
            names = list(data.get("node_names") or [])
            columns = [list(data.get(key) or []) for key in
                       ("node_addresses", "node_public_addresses", "node_cluster_addresses")]
            for column in columns:
                column += [""] * (len(names) - len(column))
            known["nodes"] += [Node(*row) for row in zip(names, *columns)]
        if "store_names" in data:  # the action plugin's form of glance_api_stores
            known["stores"] = [{"name": n, "path": p, "shared": s} for n, p, s in zip(
                data.get("store_names") or [], data.get("store_paths") or [], data.get("store_shared") or [])]
        return cls(**known)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_set(value: Any) -> bool:
    """A password flag: the action plugin passes whether a secret is set, never the secret."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "0", "off", "none")
    return bool(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _prefix(value: Any, variable: str, errors: list[str]) -> int | None:
    try:
        prefix = int(value)
    except (TypeError, ValueError):
        prefix = -1
    if not 1 <= prefix <= 32:
        errors.append(f"{variable} {value!r} is not an IPv4 prefix length: use an integer 1-32 "
                      f"(e.g. 24 for a /24 network)")
        return None
    return prefix


def _address(value: Any, variable: str, errors: list[str]) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        errors.append(f"{variable} {value!r} is not an IPv4 address: set it to a dotted-quad "
                      f"address such as 198.51.100.100")
        return None


def _check_vip(*, vip_var: str, vip: Any, prefix_var: str, prefix: Any, address_var: str,
               nodes: list[Node], attr: str, required: bool, errors: list[str]) -> None:
    """A VIP must be set (when required), parse, sit in every node's subnet and be no node's."""
    if _blank(vip):
        if required:
            errors.append(f"{vip_var} is not set: set it in the inventory (group_vars/all) to a "
                          f"free address in the glance nodes' {address_var} subnet")
        return
    address = _address(vip, vip_var, errors)
    length = _prefix(prefix, prefix_var, errors)
    if address is None or length is None:
        return
    node_addresses = {}
    for node in nodes:
        value = getattr(node, attr)
        if _blank(value):
            if address_var != INTERNAL_ADDRESS:  # a missing internal address is reported once
                errors.append(f"{address_var} of {node.name} is not set, but {vip_var} is: set "
                              f"{address_var} for {node.name} to its address in the VIP's "
                              f"network")
            continue
        try:
            node_addresses[node.name] = ipaddress.IPv4Address(str(value).strip())
        except ValueError:
            continue  # reported by the address checks
    for name, node_address in node_addresses.items():
        if node_address == address:
            errors.append(f"{vip_var} {address} is the {address_var} of {name}: choose an address "
                          f"that no host uses")
    subnets = {ipaddress.IPv4Interface(f"{a}/{length}").network for a in node_addresses.values()}
    for subnet in sorted(subnets):
        if address not in subnet:
            names = ", ".join(n for n, a in node_addresses.items() if a in subnet)
            errors.append(f"{vip_var} {address} is outside the subnet {subnet} of {names} "
                          f"({prefix_var} {length}): set it to a free address in {subnet}")
        elif address in (subnet.network_address, subnet.broadcast_address):
            errors.append(f"{vip_var} {address} is the network or broadcast address of {subnet}: "
                          f"set it to a free host address in {subnet}")


def _parsed(value: Any) -> ipaddress.IPv4Address | None:
    """An address, or None when blank or bad (reported by the check that owns the variable)."""
    try:
        return None if _blank(value) else ipaddress.IPv4Address(str(value).strip())
    except ValueError:
        return None


def _network(address: ipaddress.IPv4Address, prefix: Any) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Interface(f"{address}/{int(prefix)}").network
    except (TypeError, ValueError):
        return None  # a bad prefix is reported by the check that owns it


def check_second_link(nodes: list[Node], internal_prefix: Any, cluster_prefix: Any) -> list[str]:
    """The second corosync link (knet link 1, glance_ha_cluster_address): on every node or on
    none, one address per host, all on one network, and that network not link 0's (the internal
    network): a second link that shares the first one's network fails with it."""
    have = [n for n in nodes if not _blank(n.cluster_address)]
    if not have:
        return []  # one link
    errors = []
    missing = [n.name for n in nodes if _blank(n.cluster_address)]
    if missing:
        errors.append(f"{CLUSTER_ADDRESS} (the second corosync link) is set on "
                      f"{', '.join(n.name for n in have)} but not on {', '.join(missing)}: set it "
                      f"for {', '.join(missing)} to the host's address on the second link's "
                      f"network, or remove it from every host to keep one link")
    addresses = _second_link_addresses(nodes, have, errors)
    length = _prefix(cluster_prefix, CLUSTER_PREFIX, errors)
    if length is not None and addresses:
        internal = {_network(a, internal_prefix) for a in map(_parsed, (n.address for n in nodes)) if a}
        _check_second_link_network(addresses, length, internal - {None}, internal_prefix, errors)
    return errors


def _second_link_addresses(nodes: list[Node], have: list[Node],
                           errors: list[str]) -> dict[str, ipaddress.IPv4Address]:
    """{host: its second-link address}, for the addresses that parse and are no other address's."""
    owners: dict[ipaddress.IPv4Address, tuple[str, str]] = {}
    for node in nodes:
        for var, value in ((INTERNAL_ADDRESS, node.address), (PUBLIC_ADDRESS, node.public_address)):
            if _parsed(value) is not None:
                owners.setdefault(_parsed(value), (node.name, var))
    addresses: dict[str, ipaddress.IPv4Address] = {}
    for node in have:
        address = _parsed(node.cluster_address)
        owner = owners.get(address)
        if address is None:
            errors.append(f"{CLUSTER_ADDRESS} of {node.name} {node.cluster_address!r} is not an "
                          f"IPv4 address: set it to the host's dotted-quad address on the second "
                          f"link's network")
        elif owner == (node.name, INTERNAL_ADDRESS):
            errors.append(f"{CLUSTER_ADDRESS} {address} of {node.name} is also its "
                          f"{INTERNAL_ADDRESS} (link 0): set it to the host's address on another "
                          f"network, so that the second link does not fail with the first")
        elif owner and owner[0] != node.name:
            errors.append(f"{CLUSTER_ADDRESS} {address} of {node.name} is also the {owner[1]} of "
                          f"{owner[0]}: give each host its own address")
        elif address in addresses.values():
            first = next(name for name, a in addresses.items() if a == address)
            errors.append(f"{CLUSTER_ADDRESS} {address} of {node.name} is also used by {first}: "
                          f"give each host its own address")
        else:  # a bad or duplicate address is one problem, reported once: the network checks skip it
            addresses[node.name] = address
    return addresses


def _check_second_link_network(addresses: dict[str, ipaddress.IPv4Address], length: int,
                               internal: set[ipaddress.IPv4Network], internal_prefix: Any,
                               errors: list[str]) -> None:
    """One network for every host's second-link address, and not the internal one."""
    networks: dict[ipaddress.IPv4Network, list[str]] = {}
    for name, address in addresses.items():
        networks.setdefault(ipaddress.IPv4Interface(f"{address}/{length}").network, []).append(name)
    listed = {net: ", ".join(f"{name} {addresses[name]}" for name in names)
              for net, names in networks.items()}
    if len(networks) > 1:
        errors.append(f"{CLUSTER_ADDRESS} is on {len(networks)} networks ({CLUSTER_PREFIX} "
                      f"{length}): " + "; ".join(f"{net}: {listed[net]}" for net in sorted(networks))
                      + f": give every host an address on the one network of the second link, or "
                      f"set {CLUSTER_PREFIX} to that network's prefix length")
    for net in sorted(networks):
        clash = sorted(i for i in internal if i.overlaps(net))
        if clash:
            errors.append(f"{CLUSTER_ADDRESS} of {listed[net]} is on {net} ({CLUSTER_PREFIX} "
                          f"{length}), which overlaps the internal network "
                          f"{', '.join(map(str, clash))} of link 0 ({INTERNAL_ADDRESS}, "
                          f"{INTERNAL_PREFIX} {internal_prefix}): give the second link a network "
                          f"of its own (one switch or VLAN failure would cut both links), with "
                          f"each host's address there")


def check(settings: Settings | dict) -> list[str]:
    """Every problem of the inventory, one line each; an empty list means go."""
    if isinstance(settings, dict):
        settings = Settings.from_dict(settings)
    errors: list[str] = []
    nodes = settings.nodes
    group = settings.glance_group

    if len(nodes) < 2:
        listed = ", ".join(n.name for n in nodes) or "none"
        errors.append(f"the {group} group has {len(nodes)} host(s) ({listed}): list at least 2 "
                      f"hosts (3 recommended) in the {group} group of the inventory")
    elif len(nodes) == 2 and not _truthy(settings.two_node) and _blank(settings.qdevice_host):
        errors.append(f"the {group} group has 2 hosts but neither {TWO_NODE} nor {QDEVICE} is set: "
                      f"add a third host (recommended), set {QDEVICE} to a corosync-qnetd host, or "
                      f"set {TWO_NODE}: true (only with working fencing)")

    # Node addresses: set, parseable, unique (internal and public together: one address, one host).
    seen: dict[ipaddress.IPv4Address, str] = {}
    for node in nodes:
        for var, value in ((INTERNAL_ADDRESS, node.address), (PUBLIC_ADDRESS, node.public_address)):
            if _blank(value):
                if var == INTERNAL_ADDRESS:
                    errors.append(f"{INTERNAL_ADDRESS} of {node.name} is not set: set it to the "
                                  f"host's address on the internal network (host_vars or "
                                  f"ansible_host)")
                continue
            try:
                address = ipaddress.IPv4Address(str(value).strip())
            except ValueError:
                errors.append(f"{var} of {node.name} {value!r} is not an IPv4 address: set it to "
                              f"the host's dotted-quad address")
                continue
            if address in seen and seen[address] != f"{node.name}":
                errors.append(f"{var} {address} of {node.name} is also used by {seen[address]}: "
                              f"give each host its own address")
            elif address in seen:
                errors.append(f"{INTERNAL_ADDRESS} and {PUBLIC_ADDRESS} of {node.name} are both "
                              f"{address}: give the public network its own address")
            else:
                seen[address] = node.name

    errors += check_second_link(nodes, settings.internal_prefix, settings.cluster_prefix)

    _check_vip(vip_var=INTERNAL_VIP, vip=settings.internal_vip, prefix_var=INTERNAL_PREFIX,
               prefix=settings.internal_prefix, address_var=INTERNAL_ADDRESS, nodes=nodes,
               attr="address", required=True, errors=errors)
    _check_vip(vip_var=PUBLIC_VIP, vip=settings.public_vip, prefix_var=PUBLIC_PREFIX,
               prefix=settings.public_prefix, address_var=PUBLIC_ADDRESS, nodes=nodes,
               attr="public_address", required=False, errors=errors)
    if not _blank(settings.internal_vip) and str(settings.internal_vip).strip() == str(
            settings.public_vip).strip():
        errors.append(f"{PUBLIC_VIP} equals {INTERNAL_VIP}: give the public VIP its own address on "
                      f"the public network, or leave {PUBLIC_VIP} empty")

    port = settings.api_port
    valid_port = isinstance(port, int) and not isinstance(port, bool) or (
        isinstance(port, str) and port.strip().isdigit())
    if not valid_port or not 1 <= int(port) <= 65535:
        errors.append(f"{API_PORT} {port!r} is not a TCP port: use an integer 1-65535 "
                      f"(glance's default is 9292)")

    if _truthy(settings.stonith_enabled) and not settings.fence_devices:
        errors.append(f"{STONITH} is true but {FENCE_DEVICES} is empty: describe each host's "
                      f"fencing device in {FENCE_DEVICES} (see inventory/production.example)")

    errors += check_store_modes(settings.stores, settings.allow_unshared_stores)

    for variable, purpose in PASSWORD_VARIABLES.items():
        if not _is_set(settings.passwords.get(variable)):
            errors.append(f"{variable} ({purpose}) is not set: define it in the inventory from a "
                          f"vault, e.g. {variable}: \"{{{{ vault_{variable} }}}}\" in "
                          f"group_vars/all/main.yml and vault_{variable} in an "
                          f"ansible-vault encrypted group_vars/all/vault.yml")
    return errors


def check_store_modes(stores: list, allow_unshared: Any) -> list[str]:
    """Shared storage (the same directory on every glance node) is the supported HA mode: a store
    declared `shared: false` serves an image only from the node that wrote it, while the VIP may
    send the request to any node. Refused unless the operator accepts it explicitly."""
    if _truthy(allow_unshared):
        return []
    errors = []
    for store in stores or []:
        if isinstance(store, dict) and "shared" in store and not _truthy(store["shared"]):
            errors.append(
                f"{STORES}: store {store.get('name')!r} ({store.get('path')}) is declared shared: false: "
                f"its images would be served only by the glance node that wrote them, and the VIP "
                f"sends requests to any node. Mount it from shared storage at the same path on "
                f"every glance node and drop shared: false, or set {ALLOW_UNSHARED}: true to run "
                f"it anyway (then `glance-ha audit` shows which hosts lack which images)")
    return errors


def report(errors: list[str]) -> str:
    """The one message an operator sees: every problem, one per line."""
    noun = "problem" if len(errors) == 1 else "problems"
    lines = [f"preflight found {len(errors)} {noun} in the inventory; nothing was changed:"]
    lines += [f"  - {e}" for e in errors]
    return "\n".join(lines)
