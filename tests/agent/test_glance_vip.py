"""ocf/glance-vip, the VIPs' agent: IPaddr2 whose stop first resets the TCP connections to the VIP
(and refuses new ones until the address is gone).

The behaviour test is real: two network namespaces of our own joined by a veth pair, the VIP
brought up by the agent (IPaddr2 underneath) in one, a server there that holds a request without
answering (a request in flight), and the client in the other. Stopping the VIP with glance-vip
resets the client's connection at once; stopping it with plain IPaddr2 leaves the client waiting
until its own timeout, which is why the agent exists.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DTD, REPO

AGENT = REPO / "ocf" / "glance-vip"
IPADDR2 = Path("/usr/lib/ocf/resource.d/heartbeat/IPaddr2")
# our own namespaces and addresses: nothing of the machine's, nothing of a lab's
NS_SERVER, NS_CLIENT = "gha-t-vip-srv", "gha-t-vip-cli"
SERVER_ADDR, CLIENT_ADDR, VIP = "198.51.100.241", "198.51.100.242", "198.51.100.249"
PORT = 19292

SERVER = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
print("listening", flush=True)
held = []
while True:
    c, _ = s.accept(); c.recv(1024); held.append(c)   # the request is read, never answered
"""

CLIENT = r"""
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
c.sendall(b"GET /v2/images HTTP/1.1\r\nHost: vip\r\n\r\n")
print("sent", flush=True)
t0 = time.monotonic()
try:
    c.recv(1024); outcome = "answer"
except ConnectionResetError:
    outcome = "reset"
except socket.timeout:
    outcome = "timeout"
print(outcome, round(time.monotonic() - t0, 3), flush=True)
"""


def run(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, **kw)


CONNECT = r"""
import socket, sys, time
t0 = time.monotonic()
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close(); outcome = "connected"
except ConnectionRefusedError:
    outcome = "refused"
except socket.timeout:
    outcome = "timeout"
print(outcome, round(time.monotonic() - t0, 3), flush=True)
"""


def ocf_env(**params):
    env = {"PATH": os.environ["PATH"], "OCF_ROOT": "/usr/lib/ocf",
           "OCF_RESOURCE_INSTANCE": "p_vip_test", "HA_RSCTMP": "/run/resource-agents",
           "OCF_RESKEY_CRM_meta_timeout": "20000"}
    env.update({f"OCF_RESKEY_{k}": v for k, v in params.items()})
    return env


@pytest.fixture
def two_namespaces():
    for ns in (NS_SERVER, NS_CLIENT):
        run("ip", "netns", "del", ns, check=False)
    run("ip", "netns", "add", NS_SERVER)
    run("ip", "netns", "add", NS_CLIENT)
    try:
        run("ip", "-n", NS_SERVER, "link", "add", "vsrv", "type", "veth", "peer", "name", "vcli",
            "netns", NS_CLIENT)
        for ns, dev, addr in ((NS_SERVER, "vsrv", SERVER_ADDR), (NS_CLIENT, "vcli", CLIENT_ADDR)):
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        yield
    finally:
        for ns in (NS_SERVER, NS_CLIENT):
            run("ip", "netns", "del", ns, check=False)


@pytest.fixture
def server(two_namespaces):
    """In the server namespace, a server on PORT (every address) that reads requests and never
    answers them."""
    cmd, kw = in_ns(NS_SERVER, sys.executable, "-c", SERVER, str(PORT))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kw)
    try:
        assert proc.stdout.readline().strip() == "listening"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def in_ns(ns, *cmd, env=None, **kw):
    return ["ip", "netns", "exec", ns, *cmd], dict(env=env, **kw)


def vip_action(agent: Path, action: str, **params) -> subprocess.CompletedProcess:
    cmd, kw = in_ns(NS_SERVER, str(agent), action,
                    env=ocf_env(ip=VIP, cidr_netmask="24", nic="vsrv", **params))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)


def new_connection(timeout: float = 3) -> tuple[str, float]:
    cmd, kw = in_ns(NS_CLIENT, sys.executable, "-c", CONNECT, VIP, str(PORT), str(timeout))
    outcome, seconds = subprocess.run(cmd, capture_output=True, text=True, check=True, **kw).stdout.split()
    return outcome, float(seconds)


def guard_tables() -> str:
    return run("ip", "netns", "exec", NS_SERVER, "nft", "list", "tables").stdout


def request_in_flight_when_vip_stops(agent: Path) -> tuple[str, float]:
    """Start the VIP with glance-vip, leave a request in flight on it, stop it with `agent`;
    return what the client saw (answer/reset/timeout) and after how long."""
    assert vip_action(AGENT, "start").returncode == 0
    assert vip_action(AGENT, "monitor").returncode == 0
    cmd, kw = in_ns(NS_CLIENT, sys.executable, "-c", CLIENT, VIP, str(PORT), "4")
    client = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kw)
    assert client.stdout is not None
    assert client.stdout.readline().strip() == "sent"
    time.sleep(0.3)
    stop = vip_action(agent, "stop")
    assert stop.returncode == 0, stop.stderr
    outcome, seconds = client.stdout.readline().split()
    client.wait(timeout=10)
    # the address is gone from the node either way
    assert f" {VIP}/" not in run("ip", "-n", NS_SERVER, "-o", "addr").stdout
    assert vip_action(AGENT, "monitor").returncode == 7
    return outcome, float(seconds)


def test_stop_resets_the_connections_in_flight(server):
    outcome, seconds = request_in_flight_when_vip_stops(AGENT)
    assert outcome == "reset"
    assert seconds < 1.5  # 0.3 s of waiting before the stop, then the stop itself


def test_plain_ipaddr2_leaves_the_request_hanging_until_the_client_timeout(server):
    outcome, seconds = request_in_flight_when_vip_stops(IPADDR2)
    assert outcome == "timeout" and seconds >= 3.5


def test_after_stop_new_connections_are_refused_for_reject_seconds(server):
    assert vip_action(AGENT, "start").returncode == 0
    assert new_connection()[0] == "connected"  # the client now has the VIP's MAC cached
    assert vip_action(AGENT, "stop", reject_seconds="3").returncode == 0
    # the client still sends to this node: an RST at once, not a SYN lost in the move
    outcome, seconds = new_connection()
    assert outcome == "refused" and seconds < 0.9  # at the first SYN, not its retransmission (1 s)
    assert "glance_vip_198_51_100_249" in guard_tables()
    time.sleep(4)
    assert "glance_vip_198_51_100_249" not in guard_tables()  # taken down after 3 s
    assert new_connection(timeout=1.5)[0] == "timeout"  # the node just ignores the VIP now


def test_by_default_the_guard_is_gone_within_a_retry_delay_of_the_stops_start(server):
    assert vip_action(AGENT, "start").returncode == 0
    assert new_connection()[0] == "connected"
    t0 = time.monotonic()
    stop = vip_action(AGENT, "stop")
    assert stop.returncode == 0, stop.stderr
    # 0.4 s from the stop's start, whatever the stop took: less than a client's retry delay
    # (0.5 s), so a client refused during the move is not refused again on its retry
    time.sleep(max(0.0, t0 + 0.5 - time.monotonic()))
    assert "glance_vip_" not in guard_tables()
    assert new_connection(timeout=1.5)[0] == "timeout"


def test_reject_seconds_counts_from_the_start_of_the_stop_and_takes_decimals(server):
    assert vip_action(AGENT, "start").returncode == 0
    assert new_connection()[0] == "connected"
    t0 = time.monotonic()
    assert vip_action(AGENT, "stop", reject_seconds="1.5").returncode == 0
    # after the stop a stale client is refused at once (it retries, rather than waiting a
    # second for its SYN's retransmission)
    outcome, seconds = new_connection()
    assert outcome == "refused" and seconds < 0.9  # at the first SYN, not its retransmission (1 s)
    time.sleep(max(0.0, t0 + 1.0 - time.monotonic()))
    assert "glance_vip_198_51_100_249" in guard_tables()
    time.sleep(max(0.0, t0 + 2.0 - time.monotonic()))
    assert "glance_vip_" not in guard_tables()


def test_start_takes_down_the_guard_of_an_earlier_stop(server):
    assert vip_action(AGENT, "start").returncode == 0
    assert vip_action(AGENT, "stop", reject_seconds="60").returncode == 0
    assert "glance_vip_" in guard_tables()
    assert vip_action(AGENT, "start").returncode == 0  # the VIP comes back within the minute
    assert "glance_vip_" not in guard_tables()
    assert new_connection()[0] == "connected"


def test_bad_reject_seconds_is_err_configured_but_stop_still_works(two_namespaces):
    assert vip_action(AGENT, "start").returncode == 0
    monitor = vip_action(AGENT, "monitor", reject_seconds="soon")
    assert monitor.returncode == 6 and "reject_seconds='soon'" in monitor.stderr
    assert "set reject_seconds 0.4" in monitor.stderr
    for bad in ("-1", "nan", "inf"):
        assert vip_action(AGENT, "monitor", reject_seconds=bad).returncode == 6, bad
    assert vip_action(AGENT, "stop", reject_seconds="soon").returncode == 0
    assert f" {VIP}/" not in run("ip", "-n", NS_SERVER, "-o", "addr").stdout


def test_stop_of_a_vip_not_held_succeeds(two_namespaces):
    stop = vip_action(AGENT, "stop")
    assert stop.returncode == 0, stop.stderr


def test_metadata_is_ipaddr2s_under_our_name_and_valid(tmp_path):
    out = run(str(AGENT), "meta-data", env=ocf_env()).stdout
    assert '<resource-agent name="glance-vip"' in out
    assert "ss -K" in out and '<parameter name="reject_seconds"' in out
    assert '<parameter name="cidr_netmask"' in out and '<action name="monitor"' in out
    (tmp_path / "md.xml").write_text(out)
    lint = run("xmllint", "--noout", "--dtdvalid", DTD, str(tmp_path / "md.xml"), check=False)
    assert lint.returncode == 0, lint.stderr


def test_missing_ipaddr2_is_err_installed_but_stop_and_probe_still_answer(tmp_path):
    # no address is touched: VIP is on no interface of this machine
    env = ocf_env(ip=VIP, cidr_netmask="24")
    env["OCF_ROOT"] = str(tmp_path)
    for action in ("start", "validate-all", "meta-data"):
        proc = run(str(AGENT), action, env=env, check=False)
        assert proc.returncode == 5 and "install resource-agents" in proc.stderr, action
    probe = run(str(AGENT), "monitor", env=dict(env, OCF_RESKEY_CRM_meta_interval="0"),
                check=False)
    assert probe.returncode == 7, probe.stderr  # the address is not here: not running
    stop = run(str(AGENT), "stop", env=env, check=False)
    assert stop.returncode == 0, stop.stderr  # nothing to remove: a stop that fails is a fence


def test_a_nic_missing_on_this_node_is_err_installed_not_configured():
    """IPaddr2's start says OCF_ERR_CONFIGURED for it (the VIP would stop on every node); the
    agent answers before IPaddr2 runs, so nothing of this machine's network is touched."""
    for nic in ("gha-t-nonic0", "gha-t-nonic0:vip"):
        env = ocf_env(ip=VIP, cidr_netmask="24", nic=nic)
        for action in ("start", "validate-all"):
            proc = run(str(AGENT), action, env=env, check=False)
            assert proc.returncode == 5, (nic, action, proc.stderr)
            assert "parameter nic=%s: no such interface on this node" % nic in proc.stderr
            assert "leave nic empty" in proc.stderr
        assert f" {VIP}/" not in run("ip", "-o", "addr").stdout


def test_metadata_is_cached_and_remade_when_the_agent_changes(tmp_path):
    # Pacemaker asks for meta-data before a node's first start of a VIP: on a failover's path
    agent = tmp_path / "glance-vip"
    shutil.copy2(AGENT, agent)
    first = run(str(agent), "meta-data", env=ocf_env()).stdout
    cache = Path("/var/cache/glance-vip")
    made = sorted(cache.glob("meta-data-*.xml"))
    assert len(made) == 1 and made[0].read_text() == first
    assert run(str(agent), "meta-data", env=ocf_env()).stdout == first  # from the cache
    agent.write_text(agent.read_text().replace('AGENT = "glance-vip"', 'AGENT = "glance-vip-2"'))
    second = run(str(agent), "meta-data", env=ocf_env()).stdout
    assert '<resource-agent name="glance-vip-2"' in second  # not the stale cached text
    assert [p.read_text() for p in cache.glob("meta-data-*.xml")] == [second]
