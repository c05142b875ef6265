"""The lab builder's own logic, without building anything."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from glance_ha_lab import __main__ as cli
from glance_ha_lab import config, network, shell


@pytest.fixture(autouse=True)
def no_machine_handle(monkeypatch):
    monkeypatch.setattr(network, "machine_netns", lambda: "test-machine")


def fake_ip_json(addrs, routes):
    def run(cmd, check=True, capture=False, **kw):
        out = json.dumps(addrs if "addr" in cmd else routes)
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")
    return run


def test_lab_inventory_is_the_topology():
    hosts = {h.name: h for h in config.load_hosts()}
    assert sorted(hosts) == ["controller", "glance1", "glance2", "glance3"]
    assert [h.name for h in config.load_hosts()][0] == "controller"
    assert hosts["glance2"].internal == "198.51.100.12" and hosts["glance2"].public == "203.0.113.12"
    assert hosts["glance2"].cluster == "198.18.0.12" and hosts["controller"].cluster is None
    assert hosts["glance1"].is_glance and not hosts["controller"].is_glance


def test_machine_on_other_networks_is_accepted(monkeypatch):
    monkeypatch.setattr(network, "run", fake_ip_json(
        [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.2", "prefixlen": 24}]}],
        [{"dst": "default", "gateway": "192.0.2.1"}, {"dst": "192.0.2.0/24", "dev": "eth0"}]))
    network.check_no_overlap()


@pytest.mark.parametrize("addrs,routes,named", [
    ([{"ifname": "eth9", "addr_info": [{"family": "inet", "local": "198.51.100.7", "prefixlen": 24}]}], [],
     "address 198.51.100.7/24 on eth9"),
    ([], [{"dst": "203.0.113.0/25", "dev": "tun0"}], "route 203.0.113.0/25 dev tun0"),
    ([{"ifname": "eth1", "addr_info": [{"family": "inet", "local": "10.0.0.1", "prefixlen": 8}]}],
     [{"dst": "198.0.0.0/8", "dev": "eth1"}], "route 198.0.0.0/8 dev eth1"),
])
def test_lab_refuses_networks_the_machine_already_uses(monkeypatch, addrs, routes, named):
    monkeypatch.setattr(network, "run", fake_ip_json(addrs, routes))
    with pytest.raises(config.LabError) as e:
        network.check_no_overlap()
    assert named in str(e.value)
    assert "198.51.100.0/24" in str(e.value)


def test_port_names_fit_the_kernel_limit():
    for h in config.load_hosts():
        for net in config.LAB_NETS:
            assert len(network.port_name(h, net.tag)) <= 15


def test_cli_error_is_one_line_naming_the_tool_and_the_failed_command(capsys):
    assert shell.cli_error("lab", config.LabError("glance1: no such host")) == 1
    assert shell.cli_error("bmc", subprocess.CalledProcessError(2, ["ip", "netns", "add", "x"])) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["lab: glance1: no such host", "bmc: command failed (2): ip netns add x"]


# ---------------------------------------------------------------------------------------------
# the lab's networks, against a fake `ip` (nothing is created)
# ---------------------------------------------------------------------------------------------
class FakeIp:
    """Just enough of `ip` (namespaces, links, IPv4 addresses, the default route) for the lab's
    network functions, recording every command; `changes` lists those that change something."""

    READS = ("show",)

    def __init__(self):
        self.netns: set[str] = set()
        self.links: dict[str, dict[str, dict]] = {}  # netns -> dev -> {addrs, mac, master, state}
        self.routes: dict[str, str] = {}  # netns -> default route
        self.commands: list[list[str]] = []

    def link(self, ns: str, dev: str, **attrs) -> dict:
        entry = self.links.setdefault(ns, {}).setdefault(dev, {"addrs": [], "mac": "", "master": "", "state": "down"})
        entry.update(attrs)
        return entry

    @property
    def changes(self) -> list[str]:
        return [" ".join(c) for c in self.commands if not ({"show", "lo"} & set(c))]

    def __call__(self, cmd, check=True, capture=False, **kw):
        self.commands.append(list(cmd))
        assert cmd[0] == "ip", cmd
        args, ns, flags, out, rc = list(cmd[1:]), "", set(), "", 0
        while args[0].startswith("-"):
            flags.add(args.pop(0))
            if "-n" in flags and not ns:
                ns = args.pop(0)
        devs = self.links.setdefault(ns, {})
        match args:
            case ["netns", "add", name]:
                self.netns.add(name)
            case ["link", "set", "lo", "up"]:
                pass
            case ["link", "show", dev]:
                rc = 0 if dev in devs else 1
                if not rc and "-j" in flags:
                    out = json.dumps([{"ifname": dev, "address": devs[dev]["mac"]}])
            case ["link", "add", br, "type", "bridge", *_]:
                self.link(ns, br)
            case ["link", "add", port, "type", "veth", "peer", "name", dev, "netns", peer_ns]:
                self.link(ns, port)
                self.link(peer_ns, dev)
            case ["link", "del", port]:
                rc = 0 if devs.pop(port, None) else 1
            case ["link", "set", "dev", dev, "address", mac]:
                devs[dev]["mac"] = mac
            case ["link", "set", port, "master", br, state]:
                devs[port].update(master=br, state=state)
            case ["link", "set", dev, state]:
                if dev in devs:
                    devs[dev]["state"] = state
                else:
                    rc = 1
            case ["addr", "show", "dev", dev]:
                out = "".join(f"7: {dev}    inet {a} scope global {dev}\\       valid_lft forever\n"
                              for a in devs[dev]["addrs"])
            case ["addr", "add", addr, "dev", dev]:
                devs[dev]["addrs"].append(addr)
            case ["addr", "del", addr, "dev", dev]:
                devs[dev]["addrs"].remove(addr)
            case ["route", "show", "default"]:
                out = self.routes.get(ns, "") + (" \n" if ns in self.routes else "")
            case ["route", "replace", *route]:
                self.routes[ns] = " ".join(route)
            case _:
                raise AssertionError(f"unexpected command {cmd}")
        if rc and check:
            raise subprocess.CalledProcessError(rc, cmd)
        return subprocess.CompletedProcess(cmd, rc, stdout=out, stderr="")


@pytest.fixture
def fake_ip(monkeypatch, tmp_path):
    fake = FakeIp()
    monkeypatch.setattr(network, "run", fake)
    monkeypatch.setattr(network, "netns_exists", lambda name: name in fake.netns)
    monkeypatch.setattr(config, "LAB_DIR", tmp_path)  # host state (cut links) in tmp
    return fake


def hosts() -> dict[str, config.Host]:
    return {h.name: h for h in config.load_hosts()}


def test_the_lab_networks_and_their_addresses():
    assert [(n.name, n.bridge, n.dev, str(n.net)) for n in config.LAB_NETS] == [
        ("internal", "br-int", "eth0", "198.51.100.0/24"),
        ("public", "br-pub", "eth1", "203.0.113.0/24"),
        ("cluster", "br-clu", "eth2", "198.18.0.0/24")]
    h = hosts()
    # the cluster network's address has the internal address's last octet; no controller on it
    assert {n: x.cluster for n, x in h.items()} == {"controller": None, "glance1": "198.18.0.11",
                                                     "glance2": "198.18.0.12", "glance3": "198.18.0.13"}
    assert [n.dev for n, _ in h["controller"].links()] == ["eth0", "eth1"]
    assert [n.dev for n, _ in h["glance1"].links()] == ["eth0", "eth1", "eth2"]


def test_the_lab_inventory_gives_the_roles_the_lab_networks():
    """group_vars read the lab's addresses from hosts.yml; their prefixes are the lab networks'."""
    all_vars = yaml.safe_load(config.ALL_VARS.read_text())
    assert all_vars["glance_ha_cluster_address"] == "{{ lab_cluster_address | default('') }}"
    assert all_vars["glance_ha_internal_prefix"] == config.INTERNAL_NET.prefixlen
    assert all_vars["glance_ha_public_prefix"] == config.PUBLIC_NET.prefixlen
    assert all_vars["glance_ha_cluster_prefix"] == config.CLUSTER_NET.prefixlen


def test_gateways_come_from_the_lab_inventory():
    assert {k: str(v) for k, v in config.gateways().items()} == {
        "internal": "198.51.100.1/24", "public": "203.0.113.1/24"}


@pytest.mark.parametrize("gateway, message", [
    ("198.51.101.1", "glance_ha_internal_gateway 198.51.101.1 is not a host address in the lab's "
                     "internal network 198.51.100.0/24: use one there (e.g. 198.51.100.1)"),
    ("198.51.100.255", "glance_ha_internal_gateway 198.51.100.255 is not a host address in the lab's "
                       "internal network 198.51.100.0/24"),
    ("198.51.100.12", "glance_ha_internal_gateway 198.51.100.12 is the address of glance2: give the "
                      "gateway an address no host uses"),
])
def test_a_bad_gateway_is_refused(tmp_path, gateway, message):
    group_vars = tmp_path / "all.yml"
    group_vars.write_text(yaml.safe_dump({"glance_ha_internal_gateway": gateway}))
    with pytest.raises(config.LabError, match=re.escape(message)):
        config.gateways(group_vars=group_vars)


def test_an_address_outside_its_lab_network_is_refused(monkeypatch, tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(config.INVENTORY.read_text().replace("lab_cluster_address: 198.18.0.12",
                                                           "lab_cluster_address: 198.18.1.12"))
    monkeypatch.setattr(config, "INVENTORY", inventory)
    with pytest.raises(config.LabError, match=re.escape(
            "lab_cluster_address 198.18.1.12 of glance2 is not a host address in the lab's cluster "
            "network 198.18.0.0/24: give it one there")):
        config.load_hosts()


def test_every_lab_interface_and_gateway_has_its_own_fixed_mac():
    macs = [network.fixed_mac(a) for h in config.load_hosts() for _, a in h.links()]
    macs += [network.fixed_mac(str(gw.ip)) for gw in config.gateways().values()]
    assert len(set(macs)) == len(macs)
    assert network.fixed_mac("198.18.0.11") == "02:00:c6:12:00:0b"


def test_the_overlap_check_covers_the_cluster_network(monkeypatch):
    monkeypatch.setattr(network, "run", fake_ip_json(
        [{"ifname": "eth3", "addr_info": [{"family": "inet", "local": "198.18.0.5", "prefixlen": 16}]}], []))
    with pytest.raises(config.LabError) as e:
        network.check_no_overlap()
    assert "address 198.18.0.5/16 on eth3" in str(e.value)
    assert "198.51.100.0/24 / 203.0.113.0/24 / 198.18.0.0/24" in str(e.value)


def test_the_switch_has_a_bridge_per_network_and_the_gateways(fake_ip):
    network.ensure_switch()
    sw = fake_ip.links["gha-sw"]
    assert {br: (d["addrs"], d["mac"], d["state"]) for br, d in sw.items()} == {
        "br-int": (["198.51.100.1/24"], "02:00:c6:33:64:01", "up"),
        "br-pub": (["203.0.113.1/24"], "02:00:cb:00:71:01", "up"),
        "br-clu": ([], "", "up")}
    # nothing outside the lab's namespaces
    assert all(c[1:3] == ["-n", "gha-sw"] or c[1:3] == ["netns", "add"] for c in fake_ip.commands)
    fake_ip.commands.clear()
    network.ensure_switch()  # again: nothing changes
    assert [c for c in fake_ip.changes if " up" not in c] == []


def test_the_switch_of_a_lab_built_before_gets_the_new_bridge_and_the_gateways(fake_ip):
    fake_ip.netns.add("gha-sw")
    for br in ("br-int", "br-pub"):
        fake_ip.link("gha-sw", br, mac="02:00:c6:33:64:0a", state="up")
    fake_ip.link("gha-sw", "br-int")["addrs"].append("198.51.100.250/24")  # a stale address
    network.ensure_switch()
    assert [c for c in fake_ip.changes if " up" not in c] == [
        "ip -n gha-sw link set dev br-int address 02:00:c6:33:64:01",
        "ip -n gha-sw addr del 198.51.100.250/24 dev br-int",
        "ip -n gha-sw addr add 198.51.100.1/24 dev br-int",
        "ip -n gha-sw link set dev br-pub address 02:00:cb:00:71:01",
        "ip -n gha-sw addr add 203.0.113.1/24 dev br-pub",
        "ip -n gha-sw link add br-clu type bridge forward_delay 0 stp_state 0"]


def test_a_glance_host_is_wired_into_every_network_with_a_default_route(fake_ip):
    network.ensure_switch()
    assert network.ensure_host_network(hosts()["glance1"]) == ["eth0", "eth1", "eth2"]
    ns = fake_ip.links["gha-glance1"]
    assert {d: (x["addrs"], x["mac"], x["state"]) for d, x in ns.items()} == {
        "eth0": (["198.51.100.11/24"], "02:00:c6:33:64:0b", "up"),
        "eth1": (["203.0.113.11/24"], "02:00:cb:00:71:0b", "up"),
        "eth2": (["198.18.0.11/24"], "02:00:c6:12:00:0b", "up")}
    sw = fake_ip.links["gha-sw"]
    assert {p: (sw[p]["master"], sw[p]["state"]) for p in ("glance1-i", "glance1-p", "glance1-c")} == {
        "glance1-i": ("br-int", "up"), "glance1-p": ("br-pub", "up"), "glance1-c": ("br-clu", "up")}
    assert fake_ip.routes["gha-glance1"] == "default via 198.51.100.1 dev eth0"
    assert network.ensure_host_network(hosts()["controller"]) == ["eth0", "eth1"]
    assert "controller-c" not in sw and "eth2" not in fake_ip.links["gha-controller"]


def test_a_running_host_built_before_gets_eth2_and_its_route_without_anything_else(fake_ip):
    """`up` on a lab built before the cluster network: only what is missing is created."""
    glance2 = hosts()["glance2"]
    network.ensure_switch()
    network.ensure_host_network(glance2)
    del fake_ip.links["gha-glance2"]["eth2"], fake_ip.links["gha-sw"]["glance2-c"], fake_ip.routes["gha-glance2"]
    fake_ip.commands.clear()
    assert network.ensure_host_network(glance2) == ["eth2"]
    keep = [  # what already is, set again (no change)
        "ip -n gha-sw link set glance2-i master br-int up", "ip -n gha-glance2 link set eth0 up",
        "ip -n gha-sw link set glance2-p master br-pub up", "ip -n gha-glance2 link set eth1 up"]
    assert fake_ip.changes == keep + [
        "ip -n gha-sw link del glance2-c",  # a stale switch end, if any
        "ip -n gha-sw link add glance2-c type veth peer name eth2 netns gha-glance2",
        "ip -n gha-glance2 link set dev eth2 address 02:00:c6:12:00:0c",
        "ip -n gha-sw link set glance2-c master br-clu up",
        "ip -n gha-glance2 addr add 198.18.0.12/24 dev eth2",
        "ip -n gha-glance2 link set eth2 up",
        "ip -n gha-glance2 -4 route replace default via 198.51.100.1 dev eth0"]
    fake_ip.commands.clear()
    assert network.ensure_host_network(glance2) == []  # again: nothing is added
    assert fake_ip.changes == keep + ["ip -n gha-sw link set glance2-c master br-clu up",
                                      "ip -n gha-glance2 link set eth2 up"]


def test_the_default_route_of_a_cut_link_is_left_alone(fake_ip):
    glance3 = hosts()["glance3"]
    network.ensure_switch()
    network.ensure_host_network(glance3)
    fake_ip.routes["gha-glance3"] = "default via 198.51.100.1 dev eth0 linkdown"
    fake_ip.commands.clear()
    network.ensure_host_network(glance3)
    assert not [c for c in fake_ip.changes if "route" in c]


def test_cut_link_cuts_every_link_by_default_and_one_network_when_asked(fake_ip):
    glance1 = hosts()["glance1"]
    glance1.state.mkdir(parents=True)
    network.cut_link(glance1, up=False)
    assert fake_ip.changes == [f"ip -n gha-sw link set glance1-{t} down" for t in "ipc"]
    assert network.cut_nets(glance1) == {"internal", "public", "cluster"}
    fake_ip.commands.clear()
    network.cut_link(glance1, up=True, nets=["internal"])
    assert fake_ip.changes == ["ip -n gha-sw link set glance1-i up"]
    assert (glance1.state / "link-cut").read_text() == "public\ncluster\n"
    network.cut_link(glance1, up=True)
    assert not (glance1.state / "link-cut").exists()
    fake_ip.commands.clear()
    network.cut_link(glance1, up=False, nets=("cluster",))
    assert fake_ip.changes == ["ip -n gha-sw link set glance1-c down"]
    assert network.cut_nets(glance1) == {"cluster"}


def test_a_cut_link_stays_cut_when_the_host_is_wired_again(fake_ip):
    """power_on (and `up` on a running host) wires the host: a cut link is left down."""
    glance1 = hosts()["glance1"]
    glance1.state.mkdir(parents=True)
    network.cut_link(glance1, up=False, nets=["cluster"])
    network.ensure_switch()
    network.ensure_host_network(glance1)
    sw = fake_ip.links["gha-sw"]
    assert {p: sw[p]["state"] for p in ("glance1-i", "glance1-p", "glance1-c")} == {
        "glance1-i": "up", "glance1-p": "up", "glance1-c": "down"}


def test_a_cut_marker_of_before_means_every_link(fake_ip):
    glance1 = hosts()["glance1"]
    glance1.state.mkdir(parents=True)
    (glance1.state / "link-cut").write_text("cut\n")
    assert network.cut_nets(glance1) == {"internal", "public", "cluster"}


@pytest.mark.parametrize("host, nets, message", [
    ("controller", ["cluster"], "controller has no link on the cluster network; its links: internal, public"),
    ("glance1", ["storage"], "no lab network storage; networks: internal, public, cluster"),
])
def test_cutting_a_link_the_host_has_not_is_refused(fake_ip, host, nets, message):
    with pytest.raises(config.LabError, match=re.escape(message)):
        network.cut_link(hosts()[host], up=False, nets=nets)
    assert fake_ip.commands == []


@pytest.mark.parametrize("argv, up, nets", [
    (["cut-link", "glance1"], False, None),
    (["cut-link", "glance1", "--net", "cluster"], False, ["cluster"]),
    (["restore-link", "glance1", "--net", "internal", "--net", "public"], True, ["internal", "public"]),
    (["restore-link", "glance1"], True, None),
])
def test_the_cut_link_commands(monkeypatch, argv, up, nets):
    calls = []
    monkeypatch.setattr(cli, "cut_link", lambda host, up, nets=None: calls.append((host.name, up, nets)))
    assert cli.main(argv) == 0
    assert calls == [("glance1", up, nets)]


def test_the_cut_link_command_refuses_an_unknown_network(monkeypatch, capsys):
    monkeypatch.setattr(cli, "cut_link", lambda *a, **kw: pytest.fail("called"))
    with pytest.raises(SystemExit) as e:
        cli.main(["cut-link", "glance1", "--net", "storage"])
    assert e.value.code == 2
    assert "invalid choice: 'storage'" in capsys.readouterr().err


def test_inet_addresses_reads_ip_o_addr():
    out = ("5: br-int    inet 198.51.100.1/24 scope global br-int\\       valid_lft forever preferred_lft forever\n"
           "5: br-int    inet 198.51.100.100/24 scope global secondary br-int\\       valid_lft forever\n")
    assert network.inet_addresses(out) == ["198.51.100.1/24", "198.51.100.100/24"]
    assert network.inet_addresses("") == []


# ---------------------------------------------------------------------------------------------
# the lab's Debian release: the inventory's lab_debian_release, GLANCE_HA_LAB_RELEASE over it
# ---------------------------------------------------------------------------------------------
def release_vars(tmp_path, value) -> config.Path:
    group_vars = tmp_path / "all.yml"
    group_vars.write_text(yaml.safe_dump({} if value is None else {"lab_debian_release": value}))
    return group_vars


def test_the_committed_lab_inventory_names_a_release_the_lab_builds():
    assert yaml.safe_load(config.ALL_VARS.read_text())["lab_debian_release"] in config.RELEASES
    assert config.debian_release(environ={}) == yaml.safe_load(config.ALL_VARS.read_text())["lab_debian_release"]


@pytest.mark.parametrize("value", ["bookworm", "trixie"])
def test_the_release_comes_from_the_lab_inventory(tmp_path, value):
    assert config.debian_release(release_vars(tmp_path, value), environ={}) == value


@pytest.mark.parametrize("inventory, env, want", [
    ("bookworm", "trixie", "trixie"),
    ("trixie", "bookworm", "bookworm"),
    ("trixie", "", "trixie"),  # set but empty: the inventory's
])
def test_the_environment_overrides_the_inventory(tmp_path, inventory, env, want):
    assert config.debian_release(release_vars(tmp_path, inventory), environ={"GLANCE_HA_LAB_RELEASE": env}) == want


def test_the_environment_is_read_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("GLANCE_HA_LAB_RELEASE", "trixie")
    assert config.debian_release(release_vars(tmp_path, "bookworm")) == "trixie"


@pytest.mark.parametrize("inventory, env, message", [
    ("bookworm", "sid", "GLANCE_HA_LAB_RELEASE (environment) 'sid' is not a Debian release the lab "
                        "builds: use bookworm or trixie"),
    ("bookworm", "Trixie", "GLANCE_HA_LAB_RELEASE (environment) 'Trixie' is not a Debian release"),
    ("bullseye", None, "all.yml: lab_debian_release 'bullseye' is not a Debian release the lab builds: "
                       "use bookworm or trixie"),
    (13, None, "all.yml: lab_debian_release 13 is not a Debian release the lab builds"),
    (None, None, "all.yml: lab_debian_release is not set: set it to one of bookworm, trixie"),
])
def test_a_release_the_lab_does_not_build_is_refused_naming_the_variable(tmp_path, inventory, env, message):
    environ = {} if env is None else {"GLANCE_HA_LAB_RELEASE": env}
    with pytest.raises(config.LabError, match=re.escape(message)):
        config.debian_release(release_vars(tmp_path, inventory), environ=environ)


def test_each_release_has_a_base_image_of_its_own(monkeypatch):
    from glance_ha_lab import base_image
    stamps = {r: base_image.base_stamp(r) for r in config.RELEASES}
    assert len(set(stamps.values())) == len(stamps)
    for release in config.RELEASES:
        monkeypatch.setenv("GLANCE_HA_LAB_RELEASE", release)
        monkeypatch.delenv("GLANCE_HA_LAB_BASE", raising=False)
        assert base_image.base_stamp() == stamps[release]
        assert base_image.base_dir() == config.LAB_DIR / f"base-{stamps[release]}"


def test_the_base_image_is_debootstrapped_from_the_lab_release(monkeypatch, tmp_path):
    from glance_ha_lab import base_image
    monkeypatch.setenv("GLANCE_HA_LAB_RELEASE", "trixie")
    monkeypatch.setenv("GLANCE_HA_LAB_BASE", str(tmp_path / "base"))
    monkeypatch.setattr(base_image, "host_running", lambda host: False)
    calls = []

    class Stop(Exception):
        pass

    def fake_run(cmd, **kw):
        calls.append(cmd)
        raise Stop

    monkeypatch.setattr(base_image, "run", fake_run)
    monkeypatch.setattr(base_image, "log", lambda msg: None)
    with pytest.raises(Stop):
        base_image.build_base()
    assert calls == [["debootstrap", "--variant=minbase", "--include=ca-certificates", "trixie",
                      str(tmp_path / "base.tmp"), base_image.MIRROR]]


def test_a_bad_release_stops_the_base_image_before_anything_is_built(monkeypatch, tmp_path):
    from glance_ha_lab import base_image
    monkeypatch.setenv("GLANCE_HA_LAB_RELEASE", "jessie")
    monkeypatch.setenv("GLANCE_HA_LAB_BASE", str(tmp_path / "base"))
    monkeypatch.setattr(base_image, "run", lambda cmd, **kw: pytest.fail(f"ran {cmd}"))
    with pytest.raises(config.LabError, match="GLANCE_HA_LAB_RELEASE"):
        base_image.build_base()


def test_a_host_layer_boots_only_on_the_base_image_it_was_made_on(monkeypatch, tmp_path):
    from glance_ha_lab import power
    monkeypatch.setattr(config, "LAB_DIR", tmp_path)
    monkeypatch.setenv("GLANCE_HA_LAB_RELEASE", "trixie")
    host = hosts()["glance1"]
    monkeypatch.setattr(power, "base_dir", lambda: tmp_path / "base-trixie")
    monkeypatch.setattr(power, "mounted", lambda path: True)
    (host.root / "etc").mkdir(parents=True)
    (host.root / "etc/glance-ha-lab-host").write_text("made\n")
    power.prepare_layer(host)
    assert (host.state / "base").read_text() == f"{tmp_path / 'base-trixie'}\n"
    power.prepare_layer(host)  # the same base again: fine
    monkeypatch.setattr(power, "base_dir", lambda: tmp_path / "base-bookworm")
    monkeypatch.setenv("GLANCE_HA_LAB_RELEASE", "bookworm")
    with pytest.raises(config.LabError, match=re.escape(
            f"glance1's layer was made on the base image {tmp_path / 'base-trixie'}, not on "
            f"{tmp_path / 'base-bookworm'} (bookworm): set GLANCE_HA_LAB_RELEASE")):
        power.prepare_layer(host)


def test_each_lab_names_its_containers_after_its_prefix(monkeypatch, tmp_path):
    """nspawn keeps machine-wide state by machine name: two labs' glance1 must differ."""
    from glance_ha_lab import power
    monkeypatch.setattr(config, "LAB_DIR", tmp_path)
    host = hosts()["glance1"]
    started = []
    for name in ("host_running", "ensure_switch", "ensure_host_network", "prepare_layer"):
        monkeypatch.setattr(power, name, lambda *a: False)
    monkeypatch.setattr(power, "cgroup_dirs", lambda h: [])
    monkeypatch.setattr(power, "store_mounts", lambda: {})
    monkeypatch.setattr(power.subprocess, "Popen", lambda argv, **kw: started.append(argv))
    monkeypatch.setattr(power, "BOOT_START_TIMEOUT", 0.0)
    host.state.mkdir(parents=True)
    with pytest.raises(config.LabError):  # host_running stays false: "no process"
        power.power_on(host)
    argv = started[0]
    assert argv[argv.index("-M") + 1] == f"{config.PREFIX}-glance1" == host.netns
    assert "--hostname=glance1" in argv
