"""The lab's inventory and places: the floor every other lab module stands on; it imports none of them.

Hosts and addresses come from inventory/lab (the one source: the roles read the same files); the
lab's networks are data here (LAB_NETS). GLANCE_HA_LAB_PREFIX (default "gha": namespace and cgroup
names) and GLANCE_HA_LAB_DIR (default /var/lib/glance-ha-lab: base image, host layers, keys,
secrets) are read once, at import. The Debian release the hosts run is the lab inventory's
lab_debian_release, which GLANCE_HA_LAB_RELEASE overrides (debian_release()).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]  # lab/glance_ha_lab/ -> the repository
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
PREFIX = os.environ.get("GLANCE_HA_LAB_PREFIX", "gha")
LAB_DIR = Path(os.environ.get("GLANCE_HA_LAB_DIR", "/var/lib/glance-ha-lab"))
INTERNAL_NET = ipaddress.IPv4Network("198.51.100.0/24")
PUBLIC_NET = ipaddress.IPv4Network("203.0.113.0/24")
# corosync's second link (knet link 1) has a network of its own, as a dedicated cluster network
CLUSTER_NET = ipaddress.IPv4Network("198.18.0.0/24")
ALL_VARS = REPO / "inventory" / "lab" / "group_vars" / "all.yml"
GLANCE_VARS = REPO / "inventory" / "lab" / "group_vars" / "glance.yml"
DEFAULT_STORE_PATH = "/var/lib/glance/images"
# The Debian releases the lab's base image can be: Debian 12 and Debian 13
RELEASES = ("bookworm", "trixie")
RELEASE_VAR, RELEASE_ENV = "lab_debian_release", "GLANCE_HA_LAB_RELEASE"


class LabError(Exception):
    """A lab operation failed; the message says what to do."""


@dataclass(frozen=True)
class LabNet:
    """One lab network: a bridge in the switch namespace, one interface on it per host that has
    an address there (its switch end is the port <host>-<tag>), and the inventory variables of
    the hosts' addresses and of its gateway (none: no gateway)."""

    name: str
    tag: str
    bridge: str
    dev: str
    net: ipaddress.IPv4Network
    address_var: str
    gateway_var: str | None


LAB_NETS = (
    LabNet("internal", "i", "br-int", "eth0", INTERNAL_NET, "ansible_host", "glance_ha_internal_gateway"),
    LabNet("public", "p", "br-pub", "eth1", PUBLIC_NET, "lab_public_address", "glance_ha_public_gateway"),
    LabNet("cluster", "c", "br-clu", "eth2", CLUSTER_NET, "lab_cluster_address", None),
)
NET_NAMES = tuple(n.name for n in LAB_NETS)


@dataclass(frozen=True)
class Host:
    name: str
    internal: str
    public: str | None
    groups: tuple[str, ...]
    cluster: str | None = None

    @property
    def netns(self) -> str:
        return f"{PREFIX}-{self.name}"

    @property
    def state(self) -> Path:
        return LAB_DIR / "hosts" / self.name

    @property
    def root(self) -> Path:
        return self.state / "root"

    @property
    def is_glance(self) -> bool:
        return "glance" in self.groups

    def address(self, net: LabNet) -> str | None:
        """The host's address on a lab network; None: the host is not on it."""
        return {"internal": self.internal, "public": self.public, "cluster": self.cluster}[net.name]

    def links(self) -> list[tuple[LabNet, str]]:
        """The lab networks the host is on, each with its address there."""
        return [(net, address) for net in LAB_NETS if (address := self.address(net))]


def load_hosts() -> list[Host]:
    """Hosts and addresses from inventory/lab/hosts.yml: the one source of truth."""
    data = yaml.safe_load(INVENTORY.read_text())
    found: dict[str, dict] = {}

    def walk(group: str, node: dict) -> None:
        for name, hvars in ((node or {}).get("hosts") or {}).items():
            entry = found.setdefault(name, {"groups": [], "vars": {}})
            entry["groups"].append(group)
            entry["vars"].update(hvars or {})
        for child, sub in ((node or {}).get("children") or {}).items():
            walk(child, sub)

    walk("all", data["all"])
    hosts = []
    for name, entry in found.items():
        v = entry["vars"]
        if "ansible_host" not in v:
            raise LabError(f"{INVENTORY}: host {name} has no ansible_host; give it an address in {INTERNAL_NET}")
        addresses = {net.name: str(v[net.address_var]) if v.get(net.address_var) else None for net in LAB_NETS}
        for net in LAB_NETS:
            address = addresses[net.name]
            if address and not _host_address_in(address, net.net):
                raise LabError(f"{INVENTORY}: {net.address_var} {address} of {name} is not a "
                               f"host address in the lab's {net.name} network {net.net}: give it one there")
        hosts.append(Host(name, str(v["ansible_host"]), addresses["public"], tuple(entry["groups"]),
                          addresses["cluster"]))
    order = {"controller": 0}
    return sorted(hosts, key=lambda h: (order.get(h.name, 1), h.name))


def _host_address_in(address: str, net: ipaddress.IPv4Network) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip in net and ip not in (net.network_address, net.broadcast_address)


def gateways(hosts: list[Host] | None = None, group_vars: Path = ALL_VARS) -> dict[str, ipaddress.IPv4Interface]:
    """The lab's router: its address on each network that has one, {network name: address/prefix},
    from the lab inventory's glance_ha_<network>_gateway (the one source: the roles read the
    same variables). The switch namespace answers on these addresses (ARP, ping) and forwards
    nothing; every host's default route points at the internal one."""
    data = (yaml.safe_load(group_vars.read_text()) or {}) if group_vars.exists() else {}
    taken = {h.address(net): h.name for h in (load_hosts() if hosts is None else hosts) for net in LAB_NETS}
    found = {}
    for net in LAB_NETS:
        value = data.get(net.gateway_var) if net.gateway_var else None
        if not value:
            continue
        if not _host_address_in(str(value), net.net):
            raise LabError(f"{group_vars}: {net.gateway_var} {value} is not a host address in the lab's "
                           f"{net.name} network {net.net}: use one there (e.g. {net.net.network_address + 1})")
        if str(value) in taken:
            raise LabError(f"{group_vars}: {net.gateway_var} {value} is the address of {taken[str(value)]}: "
                           f"give the gateway an address no host uses")
        found[net.name] = ipaddress.IPv4Interface(f"{value}/{net.net.prefixlen}")
    return found


def bmc_endpoint(group_vars: Path = ALL_VARS) -> tuple[str, int]:
    """The lab BMC's (address, port): lab_bmc_address and lab_bmc_port of the lab inventory, the
    one source (the fence device's ip and ipport read the same variables)."""
    data = (yaml.safe_load(group_vars.read_text()) or {}) if group_vars.exists() else {}
    address, port = data.get("lab_bmc_address"), data.get("lab_bmc_port")
    if not address or not _host_address_in(str(address), INTERNAL_NET):
        raise LabError(f"{group_vars}: lab_bmc_address {address!r} is not a host address of the internal "
                       f"network {INTERNAL_NET}: set it to one no host uses (e.g. {INTERNAL_NET.network_address + 2})")
    if not isinstance(port, int) or not 0 < port < 65536:
        raise LabError(f"{group_vars}: lab_bmc_port {port!r} is not a TCP port: set it to e.g. 6230")
    return str(address), port


def debian_release(group_vars: Path = ALL_VARS, environ: Mapping[str, str] | None = None) -> str:
    """The Debian release (suite) of the lab's hosts: the lab inventory's lab_debian_release (the
    one source), or GLANCE_HA_LAB_RELEASE when set and not empty (so CI can build the other
    release without editing the inventory). One of RELEASES; anything else is refused, naming
    where the value came from."""
    environ = os.environ if environ is None else environ
    if environ.get(RELEASE_ENV):
        value, origin = environ[RELEASE_ENV], f"{RELEASE_ENV} (environment)"
    else:
        data = (yaml.safe_load(group_vars.read_text()) or {}) if group_vars.exists() else {}
        if RELEASE_VAR not in data:
            raise LabError(f"{group_vars}: {RELEASE_VAR} is not set: set it to one of {', '.join(RELEASES)}")
        value, origin = data[RELEASE_VAR], f"{group_vars}: {RELEASE_VAR}"
    if value not in RELEASES:
        raise LabError(f"{origin} {value!r} is not a Debian release the lab builds: use "
                       f"{' or '.join(RELEASES)}")
    return str(value)


def host_by_name(name: str) -> Host:
    for h in load_hosts():
        if h.name == name:
            return h
    raise LabError(f"no lab host {name!r}; hosts: {', '.join(h.name for h in load_hosts())}")


def store_mounts(group_vars: Path = GLANCE_VARS) -> dict[str, str]:
    """Where each glance host sees each file store: {lab dir name: path on the host}.

    Read from the lab inventory's `glance_api_stores` (the one source), one lab directory per
    store bind-mounted on every glance host, as NFS would be. The lab directory is named after the
    path's last component (the default store's stays `images`, so a running lab keeps its data)."""
    stores = (yaml.safe_load(group_vars.read_text()) or {}).get("glance_api_stores") \
        if group_vars.exists() else None
    paths = [s["path"] for s in stores] if stores else [DEFAULT_STORE_PATH]
    mounts = {Path(p).name: p for p in paths}
    if len(mounts) != len(paths):
        raise LabError(f"{group_vars}: the glance_api_stores paths must end in distinct names "
                       f"(one lab directory each): {paths}")
    return mounts


def store_dir(name: str) -> Path:
    return LAB_DIR / "shared" / name
