"""Preflight checks of a glance-ha inventory, run on the deploy host before any host is touched.

`check(settings)` takes plain data (what the `glance_ha.ha.preflight` action plugin gathers from the
inventory, or what a test builds) and returns the list of problems, each one line that names the
inventory variable at fault and says how to fix it. It collects every problem instead of stopping
at the first, so an operator fixes the inventory in one pass. It never raises on bad input: bad
input is what it reports.
"""

from __future__ import annotations

import ipaddress
import re
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
    # None: not judged here (the plugin judges them per host, with the role checks)
    stonith_enabled: Any = None
    fence_devices: list = field(default_factory=list)
    passwords: dict = field(default_factory=dict)
    # glance_api_stores as {name, path, shared}: shared is true unless the operator says false
    stores: list = field(default_factory=list)
    allow_unshared_stores: Any = False
    # glance_ha_region, glance_ha_db_host, glance_ha_keystone_url (None: not judged)
    region: Any = None
    db_host: Any = None
    keystone_url: Any = None

    @classmethod
    def from_dict(cls, data: dict) -> Settings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["nodes"] = [n if isinstance(n, Node) else Node(**n) for n in data.get("nodes") or []]
        if "node_names" in data:  # the action plugin's form: parallel lists
            names = list(data.get("node_names") or [])
            columns = [list(data.get(key) or []) for key in
                       ("node_addresses", "node_public_addresses", "node_cluster_addresses")]
            for column in columns:
                column += [""] * (len(names) - len(column))
            known["nodes"] += [Node(*row) for row in zip(names, *columns, strict=False)]
        if "store_names" in data:  # the action plugin's form of glance_api_stores
            known["stores"] = [{"name": n, "path": p, "shared": s} for n, p, s in zip(
                data.get("store_names") or [], data.get("store_paths") or [], data.get("store_shared") or [],
                strict=False)]
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
        internal = {net for a in map(_parsed, (n.address for n in nodes)) if a
                    if (net := _network(a, internal_prefix)) is not None}
        _check_second_link_network(addresses, length, internal, internal_prefix, errors)
    return errors


def _second_link_addresses(nodes: list[Node], have: list[Node],
                           errors: list[str]) -> dict[str, ipaddress.IPv4Address]:
    """{host: its second-link address}, for the addresses that parse and are no other address's."""
    owners: dict[ipaddress.IPv4Address, tuple[str, str]] = {}
    for node in nodes:
        for var, value in ((INTERNAL_ADDRESS, node.address), (PUBLIC_ADDRESS, node.public_address)):
            parsed = _parsed(value)
            if parsed is not None:
                owners.setdefault(parsed, (node.name, var))
    addresses: dict[str, ipaddress.IPv4Address] = {}
    for node in have:
        address = _parsed(node.cluster_address)
        owner = owners.get(address) if address is not None else None
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

    if settings.stonith_enabled is not None and _truthy(settings.stonith_enabled) and \
            not settings.fence_devices:
        errors.append(f"{STONITH} is true but {FENCE_DEVICES} is empty: describe each host's "
                      f"fencing device in {FENCE_DEVICES} (see inventory/production.example)")

    errors += check_store_modes(settings.stores, settings.allow_unshared_stores)

    if settings.region is not None and (_blank(settings.region) or not isinstance(settings.region, str)
                                        or settings.region != settings.region.strip()):
        errors.append(f"{REGION} = {settings.region!r}: is not a region name (Keystone registers "
                      f"the endpoints and glance-api validates tokens in it); set {REGION} to the "
                      f"Keystone region, e.g. RegionOne")
    if settings.db_host is not None and (_blank(settings.db_host) or not isinstance(settings.db_host, str)):
        errors.append(f"{DB_HOST} = {settings.db_host!r}: is empty; set {DB_HOST} to the "
                      f"MariaDB/MySQL host glance connects to, e.g. db.example.net")
    if settings.keystone_url is not None and not _KEYSTONE.match(str(settings.keystone_url)):
        errors.append(f"{KEYSTONE_URL} = {settings.keystone_url!r}: is not an http(s) URL; set "
                      f"{KEYSTONE_URL} to Keystone's v3 URL, e.g. https://keystone.example.net:5000/v3")

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


# ---------------------------------------------------------------------------------------------
# Every role variable, host by host: each role's argument spec (type, choices, required,
# elements, nested options), its semantic checks (what the roles' tasks/validate.yml assert), and
# the variables that carry a role's prefix but are none of its own (typos). The action plugin
# resolves each host's value (inventory or extra var, else the role default templated with the
# host's variables) and hands plain data to check_host() and check_unknown().

REGION = "glance_ha_region"
DB_HOST = "glance_ha_db_host"
KEYSTONE_URL = "glance_ha_keystone_url"

#: Which role owns the variables of each prefix (a variable with the prefix that is not in the
#: role's spec is a typo).
ROLE_PREFIXES = {"cluster_": "cluster", "glance_api_": "glance_api", "endpoints_": "endpoints",
                 "ha_resources_": "ha_resources", "clients_": "clients", "preflight_": "preflight"}

SECRET = "<secret>"
_SECRET_WORDS = ("pass", "secret")
_DURATION = re.compile(r"^\s*\d+(\.\d+)?\s*(ms|msec|us|usec|s|sec|m|min|h|hr)?\s*$|^P[0-9YMWDTHS.]+$")
_URL = re.compile(r"^https?://[^/:\s]+(:[0-9]+)?/?$")
_KEYSTONE = re.compile(r"^https?://[^/\s]+(/\S*)?$")


@dataclass
class Role:
    """A role's interface as its files describe it."""

    name: str
    options: dict = field(default_factory=dict)   # meta/argument_specs.yml, entry point main
    defaults: dict = field(default_factory=dict)  # defaults/main.yml
    vars: dict = field(default_factory=dict)      # vars/main.yml (internal __role_ variables)
    dependencies: list = field(default_factory=list)  # meta/main.yml's roles, short names (names)


def load_roles(roles_dir: Any) -> dict[str, Role]:
    """{role name: Role} for every role under roles_dir that has an argument spec."""
    from pathlib import Path

    import yaml  # the deploy host's Ansible always has PyYAML

    roles = {}
    for path in sorted(Path(roles_dir).iterdir()):
        spec = path / "meta" / "argument_specs.yml"
        if not spec.is_file():
            continue

        def read(*parts, path=path):
            file = path.joinpath(*parts)
            return (yaml.safe_load(file.read_text()) or {}) if file.is_file() else {}

        options = (read("meta", "argument_specs.yml").get("argument_specs") or {}).get(
            "main", {}).get("options") or {}
        deps = [(d.get("role") if isinstance(d, dict) else d) for d in
                read("meta", "main.yml").get("dependencies") or []]
        roles[path.name] = Role(path.name, options, read("defaults", "main.yml"),
                                read("vars", "main.yml"), [str(d).rsplit(".", 1)[-1] for d in deps if d])
    return roles


def templated(value: Any) -> bool:
    """Whether a default is a Jinja2 template (its value depends on the host's variables)."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(templated(v) for v in value.values())
    if isinstance(value, list):
        return any(templated(v) for v in value)
    return False


def _secret_name(name: str) -> bool:
    return any(word in name.lower() for word in _SECRET_WORDS)


def _redacted(value: Any, option: dict) -> Any:
    """The value with every no_log sub-option replaced by <secret> (for messages)."""
    if option.get("no_log"):
        return SECRET
    sub = option.get("options") or {}
    if isinstance(value, dict) and sub:
        return {k: (_redacted(v, sub[k]) if k in sub else (SECRET if _secret_name(str(k)) else v))
                for k, v in value.items()}
    if isinstance(value, list) and sub:
        return [_redacted(v, {"options": sub}) for v in value]
    return value


def _show(value: Any, option: dict) -> str:
    shown = _redacted(value, option)
    return SECRET if shown is SECRET else repr(_plain(shown))


def _plain(value: Any) -> Any:
    """Ansible's str/list/dict subclasses as plain ones, so that repr() reads like YAML input."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_TRUE = ("y", "yes", "on", "1", "true", "t")
_FALSE = ("n", "no", "off", "0", "false", "f")
_KINDS = {"str": "a string", "path": "a path (a string)", "int": "an integer", "bool": "true or false",
          "list": "a list", "dict": "a dictionary (a mapping of keys to values)", "float": "a number",
          "raw": "a value"}


def _convert(value: Any, kind: str) -> tuple[bool, Any]:
    """(ok, converted) as Ansible's argument spec converts, but refusing what no role could use:
    a string for a list or a dict, a boolean for an integer or a string."""
    if kind in ("raw", None):
        return True, value
    if kind in ("str", "path"):  # as Ansible's role spec check: no conversion (a number is refused)
        return isinstance(value, str), str(value) if isinstance(value, str) else value
    if kind == "int":
        if isinstance(value, bool):
            return False, value
        if isinstance(value, int):
            return True, int(value)
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return True, int(value)
        return False, value
    if kind == "float":
        try:
            return not isinstance(value, bool), float(value)
        except (TypeError, ValueError):
            return False, value
    if kind == "bool":
        if isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return True, value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return True, bool(value)
        return False, value
    if kind == "list":
        return isinstance(value, (list, tuple)), list(value) if isinstance(value, (list, tuple)) else value
    if kind == "dict":
        return isinstance(value, dict), value
    return True, value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a dictionary"}.get(type(_plain(value)), type(value).__name__)


def _closest(name: str, known: Any) -> str | None:
    import difflib
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return match[0] if match else None


#: Examples for the options whose default is a template (the fix then shows a plain value).
EXAMPLES = {"glance_api_workers": 4, "glance_api_port": 9292, "ha_resources_api_port": 9292,
            "ha_resources_internal_vip_prefix": 24, "ha_resources_public_vip_prefix": 24}


def _example(option: dict, name: str = "") -> str:
    default = option.get("default")
    if name in EXAMPLES:
        return f"e.g. {EXAMPLES[name]}"
    if default is None or templated(default) or default in ("", [], {}):
        choices = option.get("choices")
        return f"one of {', '.join(map(str, choices))}" if choices else ""
    return f"e.g. {_plain(default)!r}" if option.get("type") in ("list", "dict") else f"e.g. {default}"


def validate(path: str, value: Any, option: dict, problems: list[tuple[str, str, str]]) -> tuple[bool, Any]:
    """Check one value against its spec entry: (ok, converted value); each problem is appended as
    (path, what is wrong, the fix) and names the path (variable, [index], .key) at fault."""
    shown = _show(value, option)
    kind = option.get("type", "str")
    if value is None:
        if option.get("required") or option.get("default") is not None:
            problems.append((path, f"{shown}: is empty (null)", f"give {path} {_KINDS.get(kind, kind)}"
                             + (f", {_example(option)}" if _example(option) else "")))
            return False, value
        return True, value
    ok, converted = _convert(value, kind)
    if not ok:
        hint = ""
        if kind in ("str", "path") and isinstance(value, (int, float)) and not isinstance(value, bool):
            hint = f" (quote it: '{value}')"
        if kind in ("list", "dict") and isinstance(value, str):
            hint = (" (YAML [a, b] or one '- item' per line)" if kind == "list" else
                    " (YAML {key: value} or one 'key: value' per line)")
        example = _example(option, path)
        problems.append((path, f"{shown}: is {_type_name(value)}, not {_KINDS.get(kind, kind)}",
                         f"set {path} to {_KINDS.get(kind, kind)}{hint}" + (f", {example}" if example else "")))
        return False, value
    choices = option.get("choices")
    if kind == "list":
        elements = option.get("elements")
        element_spec = {"type": elements, "choices": choices, "options": option.get("options"),
                        "no_log": option.get("no_log")}
        good, items = True, []
        for index, item in enumerate(converted):
            item_ok, item_value = validate(f"{path}[{index}]", item, element_spec, problems) \
                if elements or choices or option.get("options") else (True, item)
            good &= item_ok
            items.append(item_value)
        return good, items
    if choices and converted not in choices:
        problems.append((path, f"{shown}: is not one of {', '.join(map(str, choices))}",
                         f"set {path} to one of {', '.join(map(str, choices))}"))
        return False, converted
    sub = option.get("options")
    if kind == "dict" and sub:
        good, out = True, dict(converted)
        for key in converted:
            if key not in sub:
                near = _closest(str(key), sub)
                problems.append((f"{path}.{key}", f"{_show(converted[key], {'no_log': _secret_name(str(key))})}: "
                                 f"is not a key of {path.split('[')[0]}",
                                 (f"did you mean {near}? " if near else "") +
                                 f"use only {', '.join(sub)}"))
                good = False
        for key, key_option in sub.items():
            if key not in converted or converted[key] is None:
                if key_option.get("required"):
                    problems.append((f"{path}.{key}", "(missing): is required",
                                     f"give {path} a {key}: {_KINDS.get(key_option.get('type', 'str'))}"))
                    good = False
                elif "default" in key_option:
                    out[key] = key_option["default"]
                continue
            key_ok, out[key] = validate(f"{path}.{key}", converted[key], key_option, problems)
            good &= key_ok
        return good, out
    return True, converted


def derived_from(role: Role, name: str, flagged: Any) -> bool:
    """Whether the role default of name is made from an inventory-wide variable that check()
    reported (its problem is that variable's, reported once, not again on every host)."""
    default = role.defaults.get(name)
    used = set(re.findall(r"\bglance_ha_\w+", str(default))) if templated(default) else set()
    return bool(used & set(flagged))


class _Host:
    """One host's resolved values of one role, and the problems found in them."""

    def __init__(self, host, role, values, set_names, flagged, play_hosts):
        self.host, self.role, self.set_names, self.flagged = host, role, set_names, flagged
        self.play_hosts = list(play_hosts)
        self.raw = values
        self.ok: dict = {}   # the values that passed the spec, converted
        self.problems: list[tuple[str, str]] = []
        self.bad: set = set()  # the variables with a problem

    def uses(self, name: str) -> set:
        """The role variables a default is made from (through the role's internal vars)."""
        text, seen = str(self.role.defaults.get(name, "")), set[str]()
        for _ in range(3):
            words = set(re.findall(r"\b\w+\b", text)) - seen
            seen |= words
            text = " ".join(str(self.role.vars[w]) for w in words if w in self.role.vars)
        return seen & set(self.role.options)

    def shown(self, name: str, value: Any = None) -> str:
        option = self.role.options.get(name, {})
        return _show(self.ok.get(name, self.raw.get(name)) if value is None else value, option)

    def derived_from_flagged(self, name: str) -> bool:
        return name not in self.set_names and derived_from(self.role, name, self.flagged)

    def add(self, path: str, what: str, fix: str, removable: bool = True, note: bool = True) -> None:
        name = re.split(r"[\[.]", path, maxsplit=1)[0]
        if self.derived_from_flagged(name):
            return
        self.bad.add(name)
        default = self.role.defaults.get(name)
        if name in self.set_names:
            if removable and path == name and default is not None:
                fix += " (or remove it for the default)"
        elif templated(default) and note:
            fix += f" (its value comes from the role default {default!r})"
        self.problems.append((self.host, f"{path} = {what}; {fix}"))

    def err(self, name: str, what: str, fix: str, removable: bool = True) -> None:
        self.add(name, f"{self.shown(name)}: {what}", fix, removable)

    def has(self, *names: str) -> bool:
        return all(n in self.ok for n in names)


def check_host(host: str, role: Role, values: dict, set_names: Any = (), *,
               unresolved: dict | None = None, groups: dict | None = None,
               play_hosts: Any = (), flagged: Any = ()) -> list[tuple[str, str]]:
    """Every problem of one role's variables on one host: [(host, message)], message being
    "<variable> = <value>: <what is wrong>; <the fix>" (no_log values shown as <secret>).

    values: {variable: the host's resolved value} for the role's options (missing ones are taken
    from the role defaults when those are plain values); set_names: the variables the inventory or
    extra vars set (the others are role defaults); unresolved: {variable: why its value could not
    be templated}; groups: the inventory's groups; play_hosts: the hosts the role runs on (its
    play's group); flagged: the inventory-wide glance_ha_*
    variables check() reported (problems of defaults made from them are not repeated per host).
    """
    h = _Host(host, role, dict(values), set(set_names), set(flagged), play_hosts)
    for name, option in role.options.items():
        if name in (unresolved or {}):
            continue
        if name not in h.raw:
            default = role.defaults.get(name, option.get("default"))
            if templated(default):
                continue  # the caller resolves templated defaults
            h.raw[name] = default
        found: list[tuple[str, str, str]] = []
        ok, converted = validate(name, h.raw[name], option, found)
        for path, what, fix in found:
            h.add(path, what, fix)
        if ok:
            h.ok[name] = converted
    for name, error in (unresolved or {}).items():
        if name not in h.set_names and h.uses(name) & h.bad:
            continue  # a default made from a variable already reported
        option = role.options.get(name, {})
        raw = values.get(name, role.defaults.get(name))
        h.add(name, f"{_show(raw, option)}: cannot be resolved ({error})",
              f"define the variables it uses, or set {name}", note=False)
    semantic = _SEMANTIC.get(role.name)
    if semantic:
        semantic(h, groups or {})
    return h.problems


def check_unknown(host: str, names: dict, roles: dict[str, Role],
                  prefixes: Any = None) -> list[tuple[str, str]]:
    """Variables set for the host whose name has a role's prefix but that no role knows (a typo
    or a renamed variable): [(host, message)] suggesting the closest known name.

    names: {variable: its value as set (untemplated)}; prefixes: the prefixes to judge on this
    host (default: every role's)."""
    problems = []
    wanted = ROLE_PREFIXES if prefixes is None else {p: ROLE_PREFIXES[p] for p in prefixes}
    for name in sorted(names):
        prefix = next((p for p in sorted(wanted, key=len, reverse=True) if name.startswith(p)), None)
        if prefix is None or wanted[prefix] not in roles:
            continue
        role = roles[wanted[prefix]]
        if name in role.options or name in role.vars:
            continue
        # a longer prefix of another role (glance_api_ is not cluster_): judged by that role
        near = _closest(name, role.options)
        secret = _secret_name(name) or (near and role.options[near].get("no_log"))
        shown = SECRET if secret else repr(_plain(names[name]))
        hint = f"did you mean {near}? rename it to {near}" if near else \
            f"the {role.name} role's variables are listed in roles/{role.name}/README.md"
        problems.append((host, f"{name} = {shown}: is not a variable of the {role.name} role "
                               f"(a typo?); {hint}, or remove it"))
    return problems


def merge(problems: list[tuple[str, str]]) -> list[str]:
    """One line per distinct problem, naming every host that has it: "glance1, glance2: ..."."""
    hosts: dict[str, list[str]] = {}
    for host, message in problems:
        if host not in hosts.setdefault(message, []):
            hosts[message].append(host)
    return [f"{', '.join(names)}: {message}" for message, names in hosts.items()]


# --- the roles' semantic checks (what each role's tasks/validate.yml asserts, and more) -------

def _positive(h: _Host, name: str, minimum: int, what: str, example: Any) -> None:
    if h.has(name) and h.ok[name] < minimum:
        h.err(name, what, f"set {name} to e.g. {example}")


def _duration(h: _Host, *names: str) -> None:
    for name in names:
        if h.has(name) and not _DURATION.match(str(h.ok[name])):
            h.err(name, "is not a Pacemaker duration", f"set {name} to a number with an optional "
                  f"unit (ms, s, min, h), e.g. {h.role.defaults.get(name)}")


def _not_empty(h: _Host, fixes: dict) -> None:
    for name, fix in fixes.items():
        if h.has(name) and _blank(h.ok[name]):
            h.err(name, "is empty", fix)


def _port(h: _Host, name: str) -> None:
    if h.has(name) and not 1 <= h.ok[name] <= 65535:
        h.err(name, "is not a TCP port", f"set {name} to an integer 1-65535, e.g. 9292")


def _check_cluster(h: _Host, groups: dict) -> None:
    group = h.ok.get("cluster_nodes_group")
    if group is not None:
        if group not in groups:
            known = ", ".join(sorted(g for g in groups if g not in ("all", "ungrouped")))
            h.err("cluster_nodes_group", f"is not a group of the inventory (groups: {known})",
                  "set cluster_nodes_group to the group of the glance nodes, e.g. glance")
        elif len(groups[group]) < 2:
            h.err("cluster_nodes_group", f"has {len(groups[group])} host(s)",
                  "set cluster_nodes_group to a group of at least 2 hosts (3 recommended)")
        elif h.host not in groups[group]:
            h.err("cluster_nodes_group", f"does not hold {h.host}, which the cluster role runs on",
                  f"set cluster_nodes_group to the group {h.host} is in, e.g. glance")
    _positive(h, "cluster_token", 200, "must be a positive number of milliseconds, at least 200",
              3000)
    _positive(h, "cluster_token_coefficient", 0, "must be 0 or a positive number of milliseconds", 650)
    _positive(h, "cluster_wait_timeout", 1, "must be a positive number of seconds", 180)
    if h.has("cluster_consensus", "cluster_token") and h.ok["cluster_consensus"] is not None and \
            h.ok["cluster_consensus"] <= h.ok["cluster_token"]:
        h.err("cluster_consensus", f"must be more than cluster_token ({h.ok['cluster_token']})",
              f"set cluster_consensus to e.g. {int(h.ok['cluster_token'] * 1.2)} (1.2 x token), or "
              f"null to let corosync choose")
    _not_empty(h, {"cluster_name": "set cluster_name to the corosync cluster name, e.g. glance"})
    _duration(h, "cluster_dc_deadtime")


def _check_glance_api(h: _Host, groups: dict) -> None:
    stores = h.ok.get("glance_api_stores")
    if stores is not None:
        if not stores:
            h.err("glance_api_stores", "has no store", "list at least one store: - {name: shared, "
                  "path: /var/lib/glance/images}")
        for key in ("name", "path"):
            seen: dict = {}
            for index, store in enumerate(stores):
                value = store.get(key)
                if value in seen:
                    h.add(f"glance_api_stores[{index}].{key}", f"{value!r}: is also the {key} of "
                          f"glance_api_stores[{seen[value]}]", f"give each store its own {key}")
                seen.setdefault(value, index)
        names = [s.get("name") for s in stores]
        paths = [s.get("path") for s in stores]
        if h.has("glance_api_default_store") and stores and h.ok["glance_api_default_store"] not in names:
            near = _closest(str(h.ok["glance_api_default_store"]), names)
            h.err("glance_api_default_store", f"is not the name of a store in glance_api_stores "
                  f"({', '.join(map(str, names))})",
                  f"set glance_api_default_store to one of them, e.g. {near or names[0]}",
                  removable=False)
        for name in ("glance_api_staging_dir", "glance_api_tasks_dir"):
            if h.has(name) and h.ok[name] in paths:
                h.err(name, "is also the path of a store in glance_api_stores",
                      f"give {name} a node-local directory of its own, e.g. {h.role.defaults.get(name)}")
        if not h.ok.get("glance_api_allow_unshared_stores", False) and \
                "glance_api_allow_unshared_stores" in h.ok:
            for index, store in enumerate(stores):
                if not store.get("shared", True):
                    h.add(f"glance_api_stores[{index}].shared", f"False: store {store.get('name')!r} "
                          f"({store.get('path')}) would serve its images only from the glance node "
                          f"that wrote them, and the VIP sends requests to any node",
                          "mount it from shared storage at the same path on every glance node and "
                          "drop shared: false, or set glance_api_allow_unshared_stores: true to run "
                          "it anyway (then `glance-ha audit` shows which hosts lack which images)")
    _positive(h, "glance_api_workers", 1, "must be a positive number of processes", 2)
    _positive(h, "glance_api_restart_timeout", 1, "must be a positive number of seconds", 120)
    _port(h, "glance_api_port")
    _not_empty(h, {
        "glance_api_db_password": "set glance_api_db_password, or glance_ha_db_password, from a vault",
        "glance_api_keystone_password": "set glance_api_keystone_password, or "
                                        "glance_ha_service_password, from a vault",
        "glance_api_db_host": "set glance_api_db_host, or glance_ha_db_host, to the database host",
        "glance_api_db_name": "set glance_api_db_name to the database name, e.g. glance",
        "glance_api_db_user": "set glance_api_db_user to the database user, e.g. glance",
        "glance_api_keystone_region": "set glance_api_keystone_region, or glance_ha_region, to "
                                      "the Keystone region, e.g. RegionOne",
        "glance_api_keystone_user": "set glance_api_keystone_user to the service user, e.g. glance",
    })
    for name in ("glance_api_keystone_auth_url", "glance_api_keystone_www_authenticate_uri",
                 "glance_api_public_endpoint", "glance_api_worker_self_reference_url"):
        if h.has(name) and not _KEYSTONE.match(str(h.ok[name])):
            h.err(name, "is not an http(s) URL", f"set {name} to http(s)://host:port")
    setup = h.ok.get("glance_api_db_setup_host")
    if setup and groups and setup not in {m for hosts in groups.values() for m in hosts}:
        h.err("glance_api_db_setup_host", "is not a host of the inventory",
              "set it to the inventory host that runs MariaDB, or to '' to skip creating the database")
    conf = h.ok.get("glance_api_conf_overrides")
    for section, options in (conf or {}).items():
        if not isinstance(options, dict):
            h.add(f"glance_api_conf_overrides.{section}", f"{_plain(options)!r}: is not a "
                  f"dictionary of options", f"write it as {section}: {{option: value}}")


def _check_endpoints(h: _Host, groups: dict) -> None:
    _not_empty(h, {
        "endpoints_admin_password": "set endpoints_admin_password, or "
                                    "glance_ha_keystone_admin_password, from a vault",
        "endpoints_service_password": "set endpoints_service_password, or "
                                      "glance_ha_service_password, from a vault",
        "endpoints_region": "set endpoints_region, or glance_ha_region, to the Keystone region of "
                            "the endpoints, e.g. RegionOne",
        "endpoints_admin_user": "set endpoints_admin_user to the Keystone admin user, e.g. admin",
        "endpoints_service_name": "set endpoints_service_name, e.g. glance",
        "endpoints_service_user": "set endpoints_service_user, e.g. glance",
    })
    for name in ("endpoints_public_url", "endpoints_internal_url", "endpoints_admin_url"):
        if h.has(name) and not _URL.match(str(h.ok[name])):
            h.err(name, "is not http(s)://host:port", f"set {name} to http(s)://host:port (no path)")
    if h.has("endpoints_auth_url") and not _KEYSTONE.match(str(h.ok["endpoints_auth_url"])):
        h.err("endpoints_auth_url", "is not an http(s) URL",
              "set endpoints_auth_url to Keystone's v3 URL, e.g. http://keystone:5000/v3")


def _check_ha_resources(h: _Host, groups: dict) -> None:
    ok = h.ok
    if h.has("ha_resources_internal_vip"):
        if _blank(ok["ha_resources_internal_vip"]):
            h.err("ha_resources_internal_vip", "is empty", "set ha_resources_internal_vip, or "
                  "glance_ha_internal_vip, to the internal VIP")
        elif _parsed(ok["ha_resources_internal_vip"]) is None:
            h.err("ha_resources_internal_vip", "is not an IPv4 address",
                  "set it to a dotted-quad address, e.g. 198.51.100.100")
    if h.has("ha_resources_public_vip") and not _blank(ok["ha_resources_public_vip"]) and \
            _parsed(ok["ha_resources_public_vip"]) is None:
        h.err("ha_resources_public_vip", "is not an IPv4 address",
              "set it to a dotted-quad address, or to '' for no public VIP")
    for name in ("ha_resources_internal_vip_prefix", "ha_resources_public_vip_prefix"):
        if h.has(name) and not 1 <= ok[name] <= 32:
            h.err(name, "is not an IPv4 prefix length", f"set {name} to an integer 1-32, e.g. 24")
    _port(h, "ha_resources_api_port")
    if h.has("ha_resources_stonith_enabled", "ha_resources_fence_devices") and \
            ok["ha_resources_stonith_enabled"] and not ok["ha_resources_fence_devices"]:
        h.err("ha_resources_fence_devices", "is empty, but ha_resources_stonith_enabled is true",
              "describe each host's fencing device in ha_resources_fence_devices (see "
              "inventory/production.example), or set ha_resources_stonith_enabled: false (a lab only)",
              removable=False)
    nodes = h.play_hosts
    seen_devices: dict = {}
    for index, device in enumerate(ok.get("ha_resources_fence_devices") or []):
        host = device.get("host")
        if host is not None and nodes and host not in nodes:
            h.add(f"ha_resources_fence_devices[{index}].host", f"{host!r}: is not a glance node "
                  f"({', '.join(nodes)})", "set it to the node this device fences, or omit it for a "
                  "device that fences every node (pcmk_host_list in params)")
        if device.get("name") in seen_devices:
            h.add(f"ha_resources_fence_devices[{index}].name", f"{device.get('name')!r}: is also the "
                  f"name of ha_resources_fence_devices[{seen_devices[device['name']]}]",
                  "give each device its own name")
        seen_devices.setdefault(device.get("name"), index)
        if device.get("monitor_interval") is not None and not _DURATION.match(str(device["monitor_interval"])):
            h.add(f"ha_resources_fence_devices[{index}].monitor_interval",
                  f"{device['monitor_interval']!r}: is not a Pacemaker duration", "use e.g. 60s")
    names: dict = {}
    for index, check in enumerate(ok.get("ha_resources_ping_checks") or []):
        name = check.get("name")
        path = f"ha_resources_ping_checks[{index}]"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", str(name)):
            h.add(f"{path}.name", f"{name!r}: is not letters, digits and -",
                  "name the check with letters, digits and - (it is part of resource names)")
        elif name in names:
            h.add(f"{path}.name", f"{name!r}: is also the name of ha_resources_ping_checks[{names[name]}]",
                  "give each connectivity check its own name")
        names.setdefault(name, index)
        if not check.get("hosts"):
            h.add(f"{path}.hosts", f"{_plain(check.get('hosts'))!r}: is empty",
                  "list at least one address to ping (a gateway)")
        if "public" in (check.get("vips") or []) and h.has("ha_resources_public_vip") and \
                _blank(ok["ha_resources_public_vip"]):
            h.add(f"{path}.vips", f"{_plain(check.get('vips'))!r}: names the public VIP, but "
                  f"ha_resources_public_vip is empty", "remove public from vips, or set "
                  "glance_ha_public_vip")
    _positive(h, "ha_resources_ping_attempts", 1, "must be at least 1", 2)
    _positive(h, "ha_resources_ping_timeout", 1, "must be a positive number of seconds", 1)
    _positive(h, "ha_resources_healthcheck_timeout", 1, "must be a positive number of seconds", 120)
    _positive(h, "ha_resources_glance_warm_up_requests", 0, "must be 0 (off) or more", 8)
    _positive(h, "ha_resources_glance_max_clock_skew", 0, "must be 0 (off) or more seconds", 60)
    _positive(h, "ha_resources_migration_threshold", 0, "must be 0 or more", 3)
    _duration(h, "ha_resources_glance_start_timeout", "ha_resources_glance_stop_timeout",
              "ha_resources_glance_monitor_interval", "ha_resources_glance_monitor_timeout",
              "ha_resources_vip_monitor_interval", "ha_resources_ping_interval",
              "ha_resources_ping_dampen", "ha_resources_failure_timeout", "ha_resources_dc_deadtime",
              "ha_resources_cluster_recheck_interval", "ha_resources_transition_delay")
    if h.has("ha_resources_alert_log") and not re.fullmatch(r"/[A-Za-z0-9_./-]+", ok["ha_resources_alert_log"]):
        h.err("ha_resources_alert_log", "is not an absolute path of letters, digits and _ . / -",
              "set it to e.g. /var/log/glance-ha/events.log")
    for index, attribute in enumerate(ok.get("ha_resources_alert_attributes") or []):
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", str(attribute)):
            h.add(f"ha_resources_alert_attributes[{index}]", f"{attribute!r}: is not a node attribute "
                  f"name", "use letters, digits and _ . : -")
    if h.has("ha_resources_alert_command") and ok["ha_resources_alert_command"] and \
            not ok["ha_resources_alert_command"].startswith("/"):
        h.err("ha_resources_alert_command", "does not start with an absolute path",
              "start it with the command's absolute path, e.g. /usr/local/bin/notify, or set it to ''")
    if h.has("ha_resources_alert_receiver_timeout") and not 1 <= ok["ha_resources_alert_receiver_timeout"] <= 60:
        h.err("ha_resources_alert_receiver_timeout", "must be 1 to 60 seconds",
              "set ha_resources_alert_receiver_timeout to e.g. 5")
    url = ok.get("ha_resources_alert_url")
    if url:
        if not re.match(r"https?://[^/@\s]+", url) and not re.match(r"https://[^/\s]+", url):
            h.err("ha_resources_alert_url", "is not an http:// or https:// URL with a host",
                  "set it to http(s)://host/path, or to '' for none")
        elif re.match(r"http://[^/]*@", url):
            h.err("ha_resources_alert_url", "has credentials (user:password@) over http, which "
                  "would travel in clear", "use https, or a URL without credentials")


def _check_clients(h: _Host, groups: dict) -> None:
    if h.has("clients_glance_api_url") and not re.fullmatch(r"https?://[^/\s]+", h.ok["clients_glance_api_url"]):
        h.err("clients_glance_api_url", "is not http(s)://host:port (no path)",
              "set clients_glance_api_url to e.g. http://<internal VIP>:9292")


_SEMANTIC = {"cluster": _check_cluster, "glance_api": _check_glance_api,
             "endpoints": _check_endpoints, "ha_resources": _check_ha_resources,
             "clients": _check_clients}
