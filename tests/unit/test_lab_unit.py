"""The lab builder's own logic, without building anything."""

from __future__ import annotations

import json
import subprocess

import pytest

from glance_ha import lab


@pytest.fixture(autouse=True)
def no_machine_handle(monkeypatch):
    monkeypatch.setattr(lab, "machine_netns", lambda: "test-machine")


def fake_ip(addrs, routes):
    def run(cmd, check=True, capture=False, **kw):
        out = json.dumps(addrs if "addr" in cmd else routes)
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")
    return run


def test_lab_inventory_is_the_topology():
    hosts = {h.name: h for h in lab.load_hosts()}
    assert sorted(hosts) == ["controller", "glance1", "glance2", "glance3"]
    assert [h.name for h in lab.load_hosts()][0] == "controller"
    assert hosts["glance2"].internal == "198.51.100.12" and hosts["glance2"].public == "203.0.113.12"
    assert hosts["glance1"].is_glance and not hosts["controller"].is_glance


def test_machine_on_other_networks_is_accepted(monkeypatch):
    monkeypatch.setattr(lab, "run", fake_ip(
        [{"ifname": "eth0", "addr_info": [{"family": "inet", "local": "192.0.2.2", "prefixlen": 24}]}],
        [{"dst": "default", "gateway": "192.0.2.1"}, {"dst": "192.0.2.0/24", "dev": "eth0"}]))
    lab.check_no_overlap()


@pytest.mark.parametrize("addrs,routes,named", [
    ([{"ifname": "eth9", "addr_info": [{"family": "inet", "local": "198.51.100.7", "prefixlen": 24}]}], [],
     "address 198.51.100.7/24 on eth9"),
    ([], [{"dst": "203.0.113.0/25", "dev": "tun0"}], "route 203.0.113.0/25 dev tun0"),
    ([{"ifname": "eth1", "addr_info": [{"family": "inet", "local": "10.0.0.1", "prefixlen": 8}]}],
     [{"dst": "198.0.0.0/8", "dev": "eth1"}], "route 198.0.0.0/8 dev eth1"),
])
def test_lab_refuses_networks_the_machine_already_uses(monkeypatch, addrs, routes, named):
    monkeypatch.setattr(lab, "run", fake_ip(addrs, routes))
    with pytest.raises(lab.LabError) as e:
        lab.check_no_overlap()
    assert named in str(e.value)
    assert "198.51.100.0/24" in str(e.value)


def test_port_names_fit_the_kernel_limit():
    for h in lab.load_hosts():
        for tag in ("i", "p"):
            assert len(lab.port_name(h, tag)) <= 15


def test_cli_error_is_one_line_naming_the_tool_and_the_failed_command(capsys):
    assert lab.cli_error("lab", lab.LabError("glance1: no such host")) == 1
    assert lab.cli_error("bmc", subprocess.CalledProcessError(2, ["ip", "netns", "add", "x"])) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["lab: glance1: no such host", "bmc: command failed (2): ip netns add x"]
