"""The lab's networks: the switch namespace with a bridge per lab network, each host's namespace
wired into it, links cut and restored at the switch (cables pulled), the check that the lab's
networks overlap nothing of the machine's own, and the ways into the lab (its namespaces, ssh)."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path

from glance_ha_lab.config import LAB_DIR, LAB_NETS, NET_NAMES, PREFIX, Host, LabError, gateways
from glance_ha_lab.shell import run

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3", "-o", "BatchMode=yes"]


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
# the machine's own addresses: the lab must not overlap them
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
            raise LabError(f"this command runs inside network namespace {p.name}: "
                           "run `lab up` once from the machine's own namespace")
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
# into the lab
# ---------------------------------------------------------------------------------------------
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
