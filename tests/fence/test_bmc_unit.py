"""The lab BMC's protocol and authentication, on loopback with a recording power backend."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

import pytest

from glance_ha_lab import bmc, config, shell


def exchange(port: int, build) -> dict:
    """One connection: read the challenge, send build(challenge), return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        f = sock.makefile("rwb")
        challenge = json.loads(f.readline())["challenge"]
        f.write(build(challenge) + b"\n")
        f.flush()
        return json.loads(f.readline())


def signed(secret: bytes, action: str, plug: str = ""):
    def build(challenge: str) -> bytes:
        return json.dumps({"action": action, "plug": plug,
                           "mac": bmc.request_mac(secret, challenge, action, plug)}).encode()
    return build


def test_right_secret_powers(loopback_bmc, secret):
    addr = ("127.0.0.1", loopback_bmc.port)
    assert bmc.request(addr, secret, "off", "glance2") == {"ok": True, "status": "off"}
    assert bmc.request(addr, secret, "list") == {"ok": True, "plugs": {"glance1": "on", "glance2": "off",
                                                                      "glance3": "on"}}
    assert bmc.request(addr, secret, "reboot", "glance2") == {"ok": True, "status": "on"}
    assert loopback_bmc.power.calls == [("off", "glance2"), ("off", "glance2"), ("on", "glance2")]


def test_wrong_secret_is_refused(loopback_bmc):
    answer = bmc.request(("127.0.0.1", loopback_bmc.port), b"not the secret", "off", "glance1")
    assert answer == {"ok": False, "error": "authentication failed"}
    assert loopback_bmc.power.calls == []


def test_a_signed_request_cannot_be_replayed(loopback_bmc, secret):
    seen = {}

    def capture(challenge):
        seen["msg"] = signed(secret, "status", "glance1")(challenge)
        return seen["msg"]

    assert exchange(loopback_bmc.port, capture)["ok"]
    # the same bytes on a new connection (new challenge) are refused, and so is the MAC
    # of one action reused for another
    assert exchange(loopback_bmc.port, lambda c: seen["msg"])["error"] == "authentication failed"

    def other_action(challenge):
        msg = json.loads(signed(secret, "status", "glance1")(challenge))
        msg["action"] = "off"
        return json.dumps(msg).encode()

    assert exchange(loopback_bmc.port, other_action)["error"] == "authentication failed"
    assert loopback_bmc.power.calls == []


def test_challenges_are_fresh(loopback_bmc):
    def challenge():
        with socket.create_connection(("127.0.0.1", loopback_bmc.port), timeout=5) as sock:
            return json.loads(sock.makefile("rb").readline())["challenge"]
    seen = {challenge() for _ in range(5)}
    assert len(seen) == 5 and all(len(c) == 32 for c in seen)


@pytest.mark.parametrize("payload", [b"not json", b"{}", b'{"action": "off"}', b"[1, 2]", b"x" * 10000])
def test_malformed_requests_are_refused(loopback_bmc, payload):
    answer = exchange(loopback_bmc.port, lambda c: payload)
    assert answer["ok"] is False
    assert loopback_bmc.power.calls == []


def test_unknown_action_and_plug(loopback_bmc, secret):
    addr = ("127.0.0.1", loopback_bmc.port)
    assert "unknown action" in bmc.request(addr, secret, "destroy", "glance1")["error"]
    assert "unknown plug" in bmc.request(addr, secret, "off", "controller2")["error"]
    assert loopback_bmc.power.calls == []


def test_a_silent_client_is_dropped(loopback_bmc, monkeypatch):
    monkeypatch.setattr(bmc, "REQUEST_TIMEOUT", 0.3)
    with socket.create_connection(("127.0.0.1", loopback_bmc.port), timeout=5) as sock:
        f = sock.makefile("rb")
        f.readline()  # the challenge; then say nothing
        assert f.readline() == b""  # the BMC hung up without an answer


def test_secret_file_is_made_once_0600(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "LAB_DIR", tmp_path)
    first = bmc.ensure_secret()
    path = tmp_path / "secrets" / "fence_lab"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first) == 64 and bmc.ensure_secret() == first


def test_bmc_address_is_on_the_internal_network_and_no_hosts():
    import ipaddress
    assert ipaddress.ip_address(bmc.BMC_ADDRESS) in config.INTERNAL_NET
    assert bmc.BMC_ADDRESS not in {h.internal for h in config.load_hosts()}
    assert bmc.BMC_ADDRESS not in {str(gw.ip) for gw in config.gateways().values()}
    assert bmc.BMC_MAC == "02:00:c6:33:64:02"


def test_the_fence_device_points_at_the_bmc_from_the_one_definition():
    """inventory/lab's fence device reads lab_bmc_address/lab_bmc_port, as the BMC does."""
    import json
    import subprocess
    import sys
    from pathlib import Path
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i",
                          str(config.REPO / "inventory" / "lab"), "--host", "glance1"],
                         capture_output=True, text=True, check=True).stdout
    device = json.loads(out)["ha_resources_fence_devices"][0]["params"]
    assert (device["ip"], device["ipport"]) == ("{{ lab_bmc_address }}", "{{ lab_bmc_port }}")
    assert config.bmc_endpoint() == (bmc.BMC_ADDRESS, bmc.BMC_PORT) == ("198.51.100.2", 6230)


@pytest.mark.parametrize("text, named", [
    ("lab_bmc_address: 203.0.113.2\nlab_bmc_port: 6230\n", "lab_bmc_address"),
    ("lab_bmc_address: 198.51.100.2\nlab_bmc_port: zero\n", "lab_bmc_port"),
    ("lab_bmc_port: 6230\n", "lab_bmc_address"),
])
def test_a_bad_bmc_endpoint_is_named(tmp_path, text, named):
    (tmp_path / "all.yml").write_text(text)
    with pytest.raises(config.LabError, match=named):
        config.bmc_endpoint(tmp_path / "all.yml")


def test_agent_and_bmc_agree_on_the_port():
    agent = (config.REPO / "lab" / "glance_ha_lab" / "fence_lab").read_text()
    assert f'DEFAULT_PORT = "{bmc.BMC_PORT}"' in agent


def test_stale_pid_file_is_not_a_running_bmc(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "LAB_DIR", tmp_path)
    (tmp_path / "bmc.pid").write_text(f"{os.getpid()}\n")  # alive, but not a BMC
    assert bmc.running_pid() is None


@pytest.fixture
def slow_boot_bmc(secret, monkeypatch):
    """A BMC that keeps a host it powered off off for 0.5 s."""
    from fence_helpers import LoopbackBmc
    monkeypatch.setattr(shell, "log", lambda msg: None)
    server = LoopbackBmc(secret, min_off_time=0.5)
    yield server
    server.close()


def test_reboot_answers_at_once_and_boots_after_the_minimum_off_time(slow_boot_bmc, secret):
    addr = ("127.0.0.1", slow_boot_bmc.port)
    assert bmc.request(addr, secret, "reboot", "glance2") == {"ok": True, "status": "on"}
    assert slow_boot_bmc.power.calls == [("off", "glance2")]  # powered, not booted yet
    assert bmc.request(addr, secret, "list")["plugs"]["glance2"] == "on"
    time.sleep(0.8)
    assert slow_boot_bmc.power.calls == [("off", "glance2"), ("on", "glance2")]


def test_off_cancels_a_pending_boot(slow_boot_bmc, secret):
    addr = ("127.0.0.1", slow_boot_bmc.port)
    bmc.request(addr, secret, "off", "glance1")
    assert bmc.request(addr, secret, "on", "glance1")["status"] == "on"
    assert bmc.request(addr, secret, "off", "glance1")["status"] == "off"
    assert bmc.request(addr, secret, "on", "glance1")["status"] == "on"  # a new pending boot
    time.sleep(0.8)
    assert slow_boot_bmc.power.calls == [("off", "glance1"), ("off", "glance1"), ("on", "glance1")]


def test_a_host_off_for_long_boots_at_once(slow_boot_bmc, secret):
    slow_boot_bmc.power.state["glance3"] = "off"  # not powered off by this BMC
    assert bmc.request(("127.0.0.1", slow_boot_bmc.port), secret, "on", "glance3")["status"] == "on"
    assert slow_boot_bmc.power.calls == [("on", "glance3")]


def test_a_host_that_just_crashed_boots_after_the_minimum_off_time(slow_boot_bmc, secret):
    # off without the BMC (power.power_off: a crash), then fenced: status, then on, as fence_lab does
    slow_boot_bmc.power.state["glance2"] = "off"
    slow_boot_bmc.power.crashed_at["glance2"] = time.time()
    addr = ("127.0.0.1", slow_boot_bmc.port)
    assert bmc.request(addr, secret, "status", "glance2")["status"] == "off"
    assert bmc.request(addr, secret, "on", "glance2")["status"] == "on"
    assert slow_boot_bmc.power.calls == []  # powered, not booted: its survivors' recovery comes first
    time.sleep(0.8)
    assert slow_boot_bmc.power.calls == [("on", "glance2")]
