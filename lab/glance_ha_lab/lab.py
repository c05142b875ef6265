"""The lab: real Debian 12 hosts on this one machine, for every integration test and benchmark.

Each host is a systemd-nspawn container booted with systemd, made from one debootstrapped base
image (already holding the Debian packages) plus a copy-on-write overlay of its own, so it has
its own /etc, /var, dpkg and systemd. Each host lives in its own network namespace; the lab's
bridges (LAB_NETS: internal, public, and the cluster network of corosync's second link) live in
a namespace of their own with the lab's gateway addresses, so nothing is added to the machine's
own network.

    python -m glance_ha_lab.lab up | down [--purge] | status | power-off HOST | power-on HOST
                            | cut-link HOST [--net internal|public|cluster]... | restore-link HOST [--net ...]
                            | exec HOST CMD... | ssh HOST [CMD...] | on-controller CMD...

Environment: GLANCE_HA_LAB_PREFIX (default "gha": namespace and cgroup names),
GLANCE_HA_LAB_DIR (default /var/lib/glance-ha-lab: base image, host layers, keys, secrets),
GLANCE_HA_LAB_BASE (default $GLANCE_HA_LAB_DIR/base). Two labs on one machine need a prefix
and a lab dir each; they may share a base image.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]  # lab/glance_ha_lab/ -> the repository
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
PREFIX = os.environ.get("GLANCE_HA_LAB_PREFIX", "gha")
LAB_DIR = Path(os.environ.get("GLANCE_HA_LAB_DIR", "/var/lib/glance-ha-lab"))
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
INTERNAL_NET = ipaddress.ip_network("198.51.100.0/24")
PUBLIC_NET = ipaddress.ip_network("203.0.113.0/24")
# corosync's second link (knet link 1) has a network of its own, as a dedicated cluster network
CLUSTER_NET = ipaddress.ip_network("198.18.0.0/24")
ALL_VARS = REPO / "inventory" / "lab" / "group_vars" / "all.yml"
GLANCE_VARS = REPO / "inventory" / "lab" / "group_vars" / "glance.yml"
DEFAULT_STORE_PATH = "/var/lib/glance/images"
# Everything every lab host needs, installed once into the base image: the hosts have no
# route to a package mirror, as many production networks don't.
BASE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt",
    "iproute2", "iputils-ping", "iputils-arping", "procps", "psmisc", "curl", "less",
    "ca-certificates", "sudo", "util-linux", "kmod",
    "pacemaker", "pacemaker-cli-utils", "corosync", "crmsh", "resource-agents", "fence-agents",
    "python3-psutil", "python3-requests", "python3-pymysql",
    "mariadb-server", "mariadb-client", "keystone", "glance-api",
    # keystonemiddleware's shared token cache: a node that just took the VIP serves its first
    # requests from the cache instead of validating every token with Keystone again
    "memcached", "python3-memcache",
    # glance-vip's guard: new connections to a VIP that just left a node get an RST
    "nftables",
    # the node-local fault suite skews one host's clock (LD_PRELOAD through /etc/ld.so.preload):
    # the hosts share this machine's kernel clock, which no namespace can offset
    "libfaketime",
]
# Package services the base image leaves disabled: the roles enable what each host should run
# (and Pacemaker, not systemd, runs glance-api).
BASE_DISABLED_UNITS = [
    "glance-api.service", "keystone.service", "mariadb.service", "mariadb.socket", "corosync.service",
    "iscsid.socket", "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
    "pacemaker.service", "apache2.service", "uwsgi.service", "memcached.service",
]
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3", "-o", "BatchMode=yes"]
CGROUP_ROOT = Path("/sys/fs/cgroup")


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
        return [(net, self.address(net)) for net in LAB_NETS if self.address(net)]


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], check: bool = True, capture: bool = False, **kw) -> subprocess.CompletedProcess:
    if capture:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, check=check, text=True, **kw)


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
            if addresses[net.name] and not _host_address_in(addresses[net.name], net.net):
                raise LabError(f"{INVENTORY}: {net.address_var} {addresses[net.name]} of {name} is not a "
                               f"host address in the lab's {net.name} network {net.net}: give it one there")
        hosts.append(Host(name, addresses["internal"], addresses["public"], tuple(entry["groups"]),
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


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
def machine_netns() -> str:
    """A name for the machine's own network namespace, so the overlap check reads the
    machine's addresses even when the lab command runs inside the lab (molecule, tests).
    The handle is only a name; nothing is added to that namespace."""
    name = f"{PREFIX}-machine"
    if netns_exists(name):
        return name
    mine = os.stat("/proc/self/ns/net").st_ino
    for p in Path("/run/netns").glob("*") if Path("/run/netns").is_dir() else []:
        # another lab's handle on this same machine namespace is fine; a lab host's is not
        if p.stat().st_ino == mine and not p.name.endswith("-machine"):
            raise LabError(f"this command runs inside network namespace {p.name}: run `lab up` once from the machine's own namespace")
    Path("/run/netns").mkdir(exist_ok=True)
    run(["ip", "netns", "attach", name, str(os.getpid())])
    return name


def check_no_overlap() -> None:
    """Refuse to start if a lab network overlaps an address or route of the machine itself."""
    own = ["ip", "-n", machine_netns(), "-j"]
    addrs = json.loads(run(own + ["addr", "show"], capture=True).stdout)
    routes = json.loads(run(own + ["route", "show", "table", "all"], capture=True).stdout)
    clashes = []
    for iface in addrs:
        for a in iface.get("addr_info", []):
            if a.get("family") != "inet":
                continue
            net = ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}").network
            for lab in (n.net for n in LAB_NETS):
                if net.overlaps(lab):
                    clashes.append(f"address {a['local']}/{a['prefixlen']} on {iface['ifname']}")
    for r in routes:
        dst = r.get("dst", "default")
        if dst in ("default", "") or ":" in dst or r.get("type") in ("local", "broadcast"):
            continue
        try:
            net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        except ValueError:
            continue
        for lab in (n.net for n in LAB_NETS):
            if net.overlaps(lab):
                clashes.append(f"route {dst} dev {r.get('dev')}")
    if clashes:
        raise LabError(f"the lab networks {' / '.join(str(n.net) for n in LAB_NETS)} overlap this machine's "
                       + ", ".join(sorted(set(clashes)))
                       + "; the lab would be unreachable or hijack traffic: remove them or run the lab elsewhere")


# ---------------------------------------------------------------------------------------------
# base image
# ---------------------------------------------------------------------------------------------
def base_dir() -> Path:
    # One directory per package set: a changed set builds beside the old image, which other
    # labs' hosts may still run on. GLANCE_HA_LAB_BASE lets a second lab share the first's.
    return Path(os.environ.get("GLANCE_HA_LAB_BASE", LAB_DIR / f"base-{base_stamp()}"))


def base_stamp() -> str:
    return hashlib.sha256(("\n".join(BASE_PACKAGES + BASE_DISABLED_UNITS) + SUITE).encode()).hexdigest()[:16]


def base_ready() -> bool:
    return (base_dir() / ".glance-ha-base").is_file() and \
        (base_dir() / ".glance-ha-base").read_text().strip() == base_stamp()


def build_base() -> None:
    """debootstrap + packages into base.tmp, then rename: a half-built image is never used."""
    if base_ready():
        return
    if any(host_running(h) for h in load_hosts()):
        raise LabError("the base image changed but lab hosts are running on the old one: run `make lab-down` first")
    tmp = base_dir().with_name(base_dir().name + ".tmp")
    if tmp.exists():
        log("removing a half-built base image")
        shutil.rmtree(tmp)
    t0 = time.monotonic()
    log(f"debootstrap {SUITE} (minbase) into {tmp}")
    run(["debootstrap", "--variant=minbase", "--include=ca-certificates", SUITE, str(tmp), MIRROR],
        stdout=subprocess.DEVNULL)
    log(f"debootstrap done in {time.monotonic() - t0:.0f} s; installing {len(BASE_PACKAGES)} packages")
    policy = tmp / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")  # no daemon starts inside the build chroot
    policy.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    for fs, target in (("proc", "proc"), ("sysfs", "sys")):
        run(["mount", "-t", fs, fs, str(tmp / target)])
    try:
        run(["chroot", str(tmp), "apt-get", "update", "-qq"], env=env)
        run(["chroot", str(tmp), "apt-get", "install", "-y", "-qq", "--no-install-recommends"] + BASE_PACKAGES,
            env=env, stdout=subprocess.DEVNULL)
        run(["chroot", str(tmp), "apt-get", "clean"], env=env)
    finally:
        for target in ("sys", "proc"):
            run(["umount", "-l", str(tmp / target)], check=False)
    policy.unlink()
    run(["systemctl", f"--root={tmp}", "disable", "--quiet"] + BASE_DISABLED_UNITS, check=False,
        stderr=subprocess.DEVNULL)
    run(["systemctl", f"--root={tmp}", "enable", "--quiet", "ssh.service"])
    run(["systemctl", f"--root={tmp}", "mask", "--quiet", "systemd-networkd-wait-online.service",
         "getty@tty1.service", "console-getty.service"], check=False)
    # Each host gets its own identity at first boot of its layer.
    for f in (tmp / "etc/ssh").glob("ssh_host_*"):
        f.unlink()
    (tmp / "etc/machine-id").write_text("")
    (tmp / "etc/default/locale").write_text("LANG=C.UTF-8\n")
    (tmp / ".glance-ha-base").write_text(base_stamp() + "\n")
    if base_dir().exists():
        shutil.rmtree(base_dir())
    tmp.rename(base_dir())
    log(f"base image ready in {time.monotonic() - t0:.0f} s")


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------
def netns_exists(name: str) -> bool:
    return Path(f"/run/netns/{name}").exists()


def switch_netns() -> str:
    return f"{PREFIX}-sw"


def fixed_mac(address: str) -> str:
    """A fixed MAC per address, as a real NIC keeps across power cycles: peers' ARP caches stay
    right when a host (or the switch) comes back."""
    return "02:00:" + ":".join(f"{int(o):02x}" for o in address.split("."))


def inet_addresses(ip_o_addr: str) -> list[str]:
    """The address/prefix entries of `ip -4 -o addr show dev X` output."""
    found = []
    for line in ip_o_addr.splitlines():
        words = line.split()
        if "inet" in words:
            found.append(words[words.index("inet") + 1])
    return found


def ensure_only_address(ns: str, dev: str, want: ipaddress.IPv4Interface | None) -> None:
    """`dev` in namespace `ns` holds exactly the IPv4 address `want` (None: no address)."""
    have = inet_addresses(run(["ip", "-n", ns, "-4", "-o", "addr", "show", "dev", dev], capture=True).stdout)
    for addr in have:
        if want is None or addr != str(want):
            run(["ip", "-n", ns, "addr", "del", addr, "dev", dev])
    if want is not None and str(want) not in have:
        run(["ip", "-n", ns, "addr", "add", str(want), "dev", dev])


def ensure_switch() -> None:
    """The switch namespace: one bridge per lab network (LAB_NETS); the lab's gateway addresses
    (gateways()) on their bridges, with a fixed MAC (a bridge otherwise takes its lowest port's,
    which changes as hosts come and go). Nothing is forwarded between the networks."""
    sw = switch_netns()
    if not netns_exists(sw):
        run(["ip", "netns", "add", sw])
    run(["ip", "-n", sw, "link", "set", "lo", "up"])
    gws = gateways()
    for net in LAB_NETS:
        br = net.bridge
        if run(["ip", "-n", sw, "link", "show", br], check=False, capture=True).returncode != 0:
            # no STP, no forwarding delay: a lab link is up at once
            run(["ip", "-n", sw, "link", "add", br, "type", "bridge", "forward_delay", "0", "stp_state", "0"])
        gw = gws.get(net.name)
        if gw is not None:
            mac = fixed_mac(str(gw.ip))
            shown = json.loads(run(["ip", "-n", sw, "-j", "link", "show", br], capture=True).stdout)
            if shown[0].get("address") != mac:
                run(["ip", "-n", sw, "link", "set", "dev", br, "address", mac])
        ensure_only_address(sw, br, gw)
        run(["ip", "-n", sw, "link", "set", br, "up"])


def port_name(host: Host, net: str) -> str:
    return f"{host.name[:11]}-{net}"  # interface names are at most 15 characters


def ensure_host_network(host: Host) -> list[str]:
    """The host's namespace, wired into the switch: eth0 internal, eth1 public, eth2 cluster
    (each where the host has an address), a link cut by cut_link left cut, and a default route
    via the lab's internal gateway. Creates only what is missing, so it also brings a running
    host up to date (a network added to the lab). Returns the interfaces it created."""
    sw = switch_netns()
    if not netns_exists(host.netns):
        run(["ip", "netns", "add", host.netns])
    ns = ["ip", "-n", host.netns]
    run(ns + ["link", "set", "lo", "up"])
    created, cut = [], cut_nets(host)
    for net, addr in host.links():
        dev, port = net.dev, port_name(host, net.tag)
        if run(ns + ["link", "show", dev], check=False, capture=True).returncode != 0:
            # stale switch end from a host that was powered off
            run(["ip", "-n", sw, "link", "del", port], check=False, stderr=subprocess.DEVNULL)
            # created inside the switch namespace, peer moved straight into the host's:
            # nothing ever appears in the machine's own namespace
            run(["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", dev, "netns", host.netns])
            run(ns + ["link", "set", "dev", dev, "address", fixed_mac(addr)])
            created.append(dev)
        run(["ip", "-n", sw, "link", "set", port, "master", net.bridge, "down" if net.name in cut else "up"])
        have = run(ns + ["-4", "-o", "addr", "show", "dev", dev], capture=True).stdout
        if f" {addr}/" not in have:
            run(ns + ["addr", "add", f"{addr}/{net.net.prefixlen}", "dev", dev])
        run(ns + ["link", "set", dev, "up"])
    ensure_default_route(host)
    return created


def ensure_default_route(host: Host) -> None:
    """The host's default route: via the lab's internal gateway, as production hosts have their
    router (the gateway forwards nothing: off-lab traffic goes no further than before)."""
    gw = gateways().get("internal")
    if gw is None:
        return
    want = ["default", "via", str(gw.ip), "dev", LAB_NETS[0].dev]
    ns = ["ip", "-n", host.netns, "-4", "route"]
    # (a cut link adds "linkdown" to the route it keeps)
    if run(ns + ["show", "default"], capture=True).stdout.split()[:len(want)] != want:
        run(ns + ["replace", *want])


LINK_CUT = "link-cut"  # in the host's state directory: the networks whose link is cut, one a line


def cut_nets(host: Host) -> set[str]:
    """The networks on which the host's link is cut (kept across its power cycles)."""
    try:
        text = (host.state / LINK_CUT).read_text()
    except FileNotFoundError:
        return set()
    # a marker written before links could be cut one by one ("cut"): every link
    return set(text.split()) & set(NET_NAMES) or set(NET_NAMES)


def chosen_nets(host: Host, nets: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """The network names `nets` stands for (None: every network), checked against the host's."""
    if nets is None:
        return NET_NAMES
    unknown = [n for n in nets if n not in NET_NAMES]
    if unknown:
        raise LabError(f"no lab network {', '.join(unknown)}; networks: {', '.join(NET_NAMES)}")
    mine = [net.name for net, _ in host.links()]
    absent = [n for n in nets if n not in mine]
    if absent:
        raise LabError(f"{host.name} has no link on the {', '.join(absent)} network; its links: "
                       f"{', '.join(mine)}")
    return tuple(n for n in NET_NAMES if n in nets)


def cut_link(host: Host, up: bool, nets: tuple[str, ...] | list[str] | None = None) -> None:
    """Cut (or restore) a host's links at the switch, as pulling its cables would: every link by
    default (a partition), or only those on the networks named in `nets` ("internal", "public",
    "cluster"). A cut link stays cut across the host's power cycles until it is restored."""
    chosen = chosen_nets(host, nets)
    cut = cut_nets(host) - set(chosen) if up else cut_nets(host) | set(chosen)
    marker = host.state / LINK_CUT
    if not cut:
        marker.unlink(missing_ok=True)
    elif host.state.exists():
        marker.write_text("".join(f"{n}\n" for n in NET_NAMES if n in cut))
    for net in LAB_NETS:
        if net.name in chosen:
            run(["ip", "-n", switch_netns(), "link", "set", port_name(host, net.tag), "up" if up else "down"],
                check=False, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------------------------------------
# hosts
# ---------------------------------------------------------------------------------------------
def cgroup_dirs(host: Host) -> list[Path]:
    """The host's own cgroup in each hierarchy its launcher is put in (freezer: for a hard kill
    that takes every process at once; name=systemd and unified: systemd in the container needs
    a cgroup of its own, or its services fail with status=219/CGROUP)."""
    dirs = []
    for h in ("systemd", "freezer", "unified"):
        if (CGROUP_ROOT / h / "cgroup.procs").exists():
            dirs.append(CGROUP_ROOT / h / f"glance-ha-{PREFIX}" / host.name)
    return dirs


def host_pids(host: Host) -> set[int]:
    pids: set[int] = set()
    for d in cgroup_dirs(host):
        if d.exists():
            for procs in d.rglob("cgroup.procs"):
                try:
                    pids.update(int(p) for p in procs.read_text().split())
                except OSError:
                    pass
    return pids


def host_running(host: Host) -> bool:
    return bool(host_pids(host))


def host_init_pid(host: Host) -> int:
    """The host's systemd (its PID 1), as this machine numbers it."""
    for pid in sorted(host_pids(host)):
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if argv0.endswith(b"/systemd") or argv0 == b"/sbin/init":
            return pid
    raise LabError(f"{host.name} is not running (no systemd): power it on with `lab power-on {host.name}`")


def in_host(host: Host, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """A shell command in every namespace of a running host, without ssh: for a host whose
    network or sshd is what a test broke."""
    return subprocess.run(["nsenter", "-t", str(host_init_pid(host)), "-a", "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout)


def mounted(path: Path) -> bool:
    return run(["mountpoint", "-q", str(path)], check=False).returncode == 0


def prepare_layer(host: Host) -> None:
    """Mount the host's copy-on-write layer; on its first use give it its own identity."""
    for sub in ("upper", "work", "root"):
        (host.state / sub).mkdir(parents=True, exist_ok=True)
    if not mounted(host.root):
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={base_dir()},upperdir={host.state / 'upper'},workdir={host.state / 'work'}",
             str(host.root)])
    stamp = host.root / "etc/glance-ha-lab-host"
    if stamp.exists():
        return
    r = host.root
    (r / "etc/hostname").write_text(host.name + "\n")
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{h.internal} {h.name}" for h in load_hosts()]
    (r / "etc/hosts").write_text("\n".join(lines) + "\n")
    (r / "etc/machine-id").write_text(os.urandom(16).hex() + "\n")
    run(["ssh-keygen", "-A", "-f", str(r)], stdout=subprocess.DEVNULL)
    ssh_dir = r / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text((LAB_DIR / "ssh/id_ed25519.pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    stamp.write_text(f"lab host {host.name}, prefix {PREFIX}\n")


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


BOOT_START_TIMEOUT = 10.0  # seconds power_on waits for the host's first process


def power_on(host: Host) -> None:
    """Boot the host: its network, its layer, systemd in a container of its own. Returns once
    the host has its first process (powered, not booted), so that host_running is true from
    then on: a caller that checks right after (wait_booted) does not take a host whose
    launcher has not joined its cgroups yet for a dead one."""
    if host_running(host):
        return
    ensure_switch()
    ensure_host_network(host)
    prepare_layer(host)
    for d in cgroup_dirs(host):
        d.mkdir(parents=True, exist_ok=True)
    binds = []
    if host.is_glance:
        for name, target in store_mounts().items():
            store_dir(name).mkdir(parents=True, exist_ok=True)
            binds.append(f"--bind={store_dir(name)}:{target}")
    nspawn = ["systemd-nspawn", "-D", str(host.root), "--register=no", "--keep-unit",
              "-M", host.name, f"--network-namespace-path=/run/netns/{host.netns}",
              "--capability=CAP_NET_ADMIN", "--console=read-only", "--resolv-conf=off",
              "--timezone=off", "--link-journal=no", "-E", "LANG=C.UTF-8", *binds, "-b"]
    # The launcher joins the host's own cgroups, then runs nspawn, and runs it again when the
    # host reboots itself (nspawn exits 133 on a reboot inside the container), as a machine
    # would; any other exit is a power-off. A hard power-off kills the launcher with the rest.
    joins = " ".join(f"echo $$ > {d}/cgroup.procs;" for d in cgroup_dirs(host))
    loop = ('while :; do "$@"; rc=$?; [ "$rc" -eq 133 ] || exit "$rc"; '
            'echo "launcher: the host rebooted, booting it again"; done')
    logf = open(host.state / "console.log", "ab")
    subprocess.Popen(["sh", "-c", f"{joins} {loop}", "launcher"] + nspawn,
                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
    logf.close()
    deadline = time.monotonic() + BOOT_START_TIMEOUT
    while not host_running(host):
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: no process {BOOT_START_TIMEOUT:.0f} s after power on; "
                           f"see {host.state / 'console.log'}")
        time.sleep(0.02)


def powered_off_at(host: Host) -> float | None:
    """When (time.time()) power_off last took the host down; None if it never did."""
    try:
        return float((host.state / "powered-off-at").read_text())
    except (OSError, ValueError):
        return None


def power_off(host: Host) -> None:
    """A hard power-off: every process of the host frozen, then killed at once; its network
    namespace deleted (or the dead host keeps answering on it). The time it lost power is kept
    (powered_off_at), for the BMC: a crashed host, like one it powered off, boots no sooner than
    its minimum off time after."""
    if host.state.exists():
        (host.state / "powered-off-at").write_text(f"{time.time():.3f}\n")
    freezer = next((d for d in cgroup_dirs(host) if d.parts[-3] == "freezer"), None)
    frozen = freezer is not None and freezer.exists()
    if frozen:
        (freezer / "freezer.state").write_text("FROZEN")
    try:
        for _ in range(100):
            pids = host_pids(host)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                (freezer / "freezer.state").write_text("THAWED")  # killed processes die on thaw
            time.sleep(0.05)
        else:
            raise LabError(f"{host.name}: processes survive SIGKILL: {sorted(host_pids(host))}")
    finally:
        if frozen:
            (freezer / "freezer.state").write_text("THAWED")
    if netns_exists(host.netns):
        run(["ip", "netns", "del", host.netns])
    for net in LAB_NETS:
        run(["ip", "-n", switch_netns(), "link", "del", port_name(host, net.tag)], check=False,
            stderr=subprocess.DEVNULL)
    for d in cgroup_dirs(host):
        if not d.exists():
            continue
        for sub in sorted([d, *d.rglob("*")], key=lambda p: len(p.parts), reverse=True):
            if sub.is_dir():
                try:
                    sub.rmdir()
                except OSError:
                    pass


def enter_netns(name: str | None = None) -> None:
    """Move this process (and what it starts later) into a lab network namespace.

    Unlike `ip netns exec`, this leaves the mount namespace alone: /sys/fs/cgroup stays
    visible, so a test or tool inside the lab can still power hosts off and on."""
    import ctypes
    name = name or f"{PREFIX}-controller"
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
            raise LabError(f"cannot enter network namespace {name}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


def ssh_cmd(host: Host, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", f"{PREFIX}-controller", "ssh", *SSH_OPTS,
            "-i", str(LAB_DIR / "ssh/id_ed25519"), f"root@{host.internal}", *cmd]


def wait_booted(hosts: list[Host], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    pending = list(hosts)
    while pending:
        host = pending[0]
        r = run(ssh_cmd(host, "systemctl", "is-system-running", "--wait"), check=False, capture=True)
        state = r.stdout.strip()
        if r.returncode == 0 or state == "degraded":
            if state == "degraded":
                failed = run(ssh_cmd(host, "systemctl", "--failed", "--no-legend", "--plain"),
                             check=False, capture=True).stdout.strip()
                log(f"{host.name}: degraded: {failed}")
            pending.pop(0)
            continue
        if not host_running(host):
            tail = (host.state / "console.log").read_text(errors="replace")[-2000:]
            raise LabError(f"{host.name} died while booting; console:\n{tail}")
        if time.monotonic() > deadline:
            raise LabError(f"{host.name} did not finish booting in {timeout:.0f} s (ssh: {r.stderr.strip()})")
        time.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# the lab's BMC (lab/glance_ha_lab/bmc.py): out-of-band power control for the fence agent
# ---------------------------------------------------------------------------------------------
def start_bmc() -> None:
    from glance_ha_lab import bmc  # imported here: bmc builds on this module
    bmc.start()


def stop_bmc() -> None:
    from glance_ha_lab import bmc
    bmc.stop()


# ---------------------------------------------------------------------------------------------
# whole lab
# ---------------------------------------------------------------------------------------------
def ensure_ssh_key() -> None:
    key = LAB_DIR / "ssh/id_ed25519"
    if key.exists():
        return
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"glance-ha-lab-{PREFIX}", "-f", str(key)])


def write_readme() -> None:
    (LAB_DIR / "README").write_text(
        f"glance-ha lab (prefix {PREFIX}), built by {REPO}/lab/glance_ha_lab/lab.py\n"
        f"  status:       python -m glance_ha_lab.lab status\n"
        f"  shell:        python -m glance_ha_lab.lab ssh glance1\n"
        f"  on controller (ansible, clients): python -m glance_ha_lab.lab on-controller CMD...\n"
        f"  power:        python -m glance_ha_lab.lab power-off|power-on HOST\n"
        f"  cables:       python -m glance_ha_lab.lab cut-link|restore-link HOST [--net internal|public|cluster]\n"
        f"  remove:       python -m glance_ha_lab.lab down [--purge]\n")


def up() -> None:
    t0 = time.monotonic()
    hosts = load_hosts()
    check_no_overlap()
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    (LAB_DIR / "READY").unlink(missing_ok=True)
    ensure_ssh_key()
    build_base()
    ensure_switch()
    start_bmc()
    for host in hosts:
        # A host whose processes are gone but whose namespace or layer is left is repaired by a
        # clean power cycle; a running one is left alone.
        if not host_running(host):
            log(f"booting {host.name}")
            power_off(host)
            power_on(host)
        else:
            # a running host gets what the lab gained since it booted (a network), no reboot
            added = ensure_host_network(host)
            if added:
                log(f"{host.name} (running): added {', '.join(added)}")
    log("waiting for every host to boot (ssh over the lab bridge)")
    wait_booted(hosts)
    write_readme()
    (LAB_DIR / "READY").write_text(time.strftime("%F %T") + "\n")
    log(f"lab up in {time.monotonic() - t0:.1f} s: " + ", ".join(f"{h.name} {h.internal}" for h in hosts))


def down(purge: bool = False) -> None:
    hosts = load_hosts()
    (LAB_DIR / "READY").unlink(missing_ok=True)
    stop_bmc()  # first: nothing powers a host on while the lab goes
    for host in hosts:
        power_off(host)
        if mounted(host.root):
            run(["umount", str(host.root)])
        if host.state.exists():
            shutil.rmtree(host.state)
    if netns_exists(switch_netns()):
        run(["ip", "netns", "del", switch_netns()])
    shared = LAB_DIR / "shared"
    if shared.exists():
        shutil.rmtree(shared)
    if purge and LAB_DIR.exists():
        shutil.rmtree(LAB_DIR)
    log("lab removed" + (" (with its base image)" if purge else " (base image kept)"))


def status() -> int:
    rc = 0
    for host in load_hosts():
        running = host_running(host)
        reach = running and run(ssh_cmd(host, "true"), check=False, capture=True).returncode == 0
        cut = cut_nets(host)
        print(f"{host.name:12} {host.internal:15} {'running' if running else 'off':8} "
              f"{'ssh ok' if reach else 'ssh down'}"
              + (f"  link cut: {', '.join(n for n in NET_NAMES if n in cut)}" if cut else ""))
        rc |= 0 if reach else 1
    return rc


def host_by_name(name: str) -> Host:
    for h in load_hosts():
        if h.name == name:
            return h
    raise LabError(f"no lab host {name!r}; hosts: {', '.join(h.name for h in load_hosts())}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m glance_ha_lab.lab", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="build (or repair) the lab and boot every host")
    d = sub.add_parser("down", help="remove the hosts and networks (keeps the base image)")
    d.add_argument("--purge", action="store_true", help="also remove the base image and keys")
    sub.add_parser("status", help="one line per host")
    for name in ("power-off", "power-on"):
        sp = sub.add_parser(name)
        sp.add_argument("host")
    for name, verb in (("cut-link", "cut"), ("restore-link", "restore")):
        sp = sub.add_parser(name, help=f"{verb} a host's links at the switch (every link: a partition)")
        sp.add_argument("host")
        sp.add_argument("--net", action="append", choices=NET_NAMES, dest="nets",
                        help=f"{verb} only the link on this network (repeatable; default: every link)")
    for name in ("exec", "ssh"):
        sp = sub.add_parser(name, help="run a command on a host over ssh from the controller's namespace")
        sp.add_argument("host")
        sp.add_argument("command", nargs=argparse.REMAINDER)
    sp = sub.add_parser("on-controller", help="run a local command inside the controller's network namespace")
    sp.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    try:
        if a.cmd == "up":
            up()
        elif a.cmd == "down":
            down(a.purge)
        elif a.cmd == "status":
            return status()
        elif a.cmd == "power-off":
            power_off(host_by_name(a.host))
        elif a.cmd == "power-on":
            host = host_by_name(a.host)
            power_on(host)
            wait_booted([host])
        elif a.cmd in ("cut-link", "restore-link"):
            cut_link(host_by_name(a.host), up=a.cmd == "restore-link", nets=a.nets)
        elif a.cmd in ("exec", "ssh"):
            cmd = ssh_cmd(host_by_name(a.host), *a.command)
            if a.cmd == "ssh" and not a.command:
                cmd.insert(cmd.index("ssh") + 1, "-t")
            return subprocess.call(cmd)
        elif a.cmd == "on-controller":
            if not a.command:
                raise LabError("on-controller needs a command")
            enter_netns()
            os.execvp(a.command[0], a.command)
    except (LabError, subprocess.CalledProcessError) as e:
        return cli_error("lab", e)
    return 0


def cli_error(prog: str, e: Exception) -> int:
    """A lab command-line tool's answer to an error it expects: one line on stderr, exit 1."""
    if isinstance(e, subprocess.CalledProcessError):
        print(f"{prog}: command failed ({e.returncode}): {' '.join(map(str, e.cmd))}", file=sys.stderr)
    else:
        print(f"{prog}: {e}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
