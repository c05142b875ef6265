"""The alert agent (alerts/glance-ha-alert) run as Pacemaker runs it: CRM_alert_* in its
environment, the recipient a file; its lines read back with module_utils/events.py."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.glance_ha.ha.plugins.module_utils import events

FIXTURES = Path(__file__).parent / "fixtures"
AGENT = events.AGENT
EPOCH = 1717236000  # 2024-06-01T10:00:00Z


def run_agent(log: Path, timeout: float = 30, **alert) -> subprocess.CompletedProcess:
    """One alert: CRM_alert_<key> for each keyword (kind, node, desc...), plus what Pacemaker
    always gives (version, recipient, timestamps)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CRM_alert_version": "2.1.5",
           "CRM_alert_recipient": str(log), "CRM_alert_timestamp_epoch": str(EPOCH),
           "CRM_alert_timestamp_usec": "123456", "CRM_alert_node_sequence": "7"}
    for key, value in alert.items():
        env[key if key == "receivers_file" or key.startswith("CIB") else f"CRM_alert_{key}"] = str(value)
    proc = subprocess.run([str(AGENT)], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    return proc


def logged(log: Path) -> list[dict]:
    return events.parse_events(log.read_text()) if log.exists() else []


@pytest.fixture()
def log(tmp_path) -> Path:
    return tmp_path / "glance-ha" / "events.log"


@pytest.fixture(autouse=True)
def log_dir(log):
    log.parent.mkdir()


def test_the_agent_is_one_executable_stdlib_file():
    assert os.access(AGENT, os.X_OK)
    assert AGENT.read_text().startswith("#!/usr/bin/python3 -S\n")


def test_fencing_is_recorded_with_its_description(log):
    desc = "Operation reboot of glance2 by glance1 for pacemaker-controld.1234@glance3: OK (ref=5e1a)"
    run_agent(log, kind="fencing", node="glance2", task="reboot", rc=0, desc=desc)
    [event] = logged(log)
    assert event == {"time": "2024-06-01T10:00:00.123456Z", "kind": "fencing", "node": "glance2",
                     "level": "warning", "what": "fenced (reboot)", "reason": desc,
                     "recorder": os.uname().nodename, "task": "reboot", "rc": 0}
    assert (log.stat().st_mode & 0o777) == 0o640


def test_a_failed_fence_is_an_error(log):
    run_agent(log, kind="fencing", node="glance2", task="reboot", rc=-62,
              desc="Operation reboot of glance2 by the cluster for pacemaker-controld.1@glance1: "
                   "Timed Out (ref=1)")
    [event] = logged(log)
    assert event["level"] == "error" and event["what"] == "fencing (reboot) FAILED (rc -62)"


@pytest.mark.parametrize("state, level", [("lost", "warning"), ("member", "notice")])
def test_node_lost_and_member(log, state, level):
    run_agent(log, kind="node", node="glance3", nodeid=3, desc=state)
    [event] = logged(log)
    assert (event["kind"], event["node"], event["what"], event["level"], event["nodeid"]) == (
        "node", "glance3", f"node {state}", level, "3")


def resource_alert(task="start", interval=0, rc=0, target_rc=0, status=0, desc="ok", **more):
    return dict(kind="resource", node="glance2", rsc="p_glance-api", task=task, interval=interval,
                rc=rc, target_rc=target_rc, status=status, desc=desc, exec_time=30, **more)


@pytest.mark.skipif(shutil.which("cibadmin") is None, reason="pacemaker (cibadmin) not installed")
def test_a_failed_start_carries_the_agents_exit_reason_from_the_cib(log):
    """Pacemaker gives the alert no exit reason: the agent reads it from the CIB's record (here a
    CIB file with the failure that crm_mon_kept_out.xml shows)."""
    run_agent(log, **resource_alert(rc=4, desc="insufficient privileges",
                                    CIB_file=FIXTURES / "cib_kept_out.xml"),
              timestamp_epoch=1717235988)
    [event] = logged(log)
    assert event["what"] == "start failed (rc 4 OCF_ERR_PERM)" and event["level"] == "error"
    assert event["reason"] == ('parameter config=/etc/glance/glance-api.conf: user "glance" cannot '
                               'read it (Permission denied)')
    assert (event["rsc"], event["task"], event["rc"], event["rc_name"], event["target_rc"]) == (
        "p_glance-api", "start", 4, "OCF_ERR_PERM", 0)


def test_a_failed_operation_without_a_cib_record_keeps_pacemakers_description(log, tmp_path):
    empty = tmp_path / "empty.xml"
    empty.write_text("<cib><configuration/><status/></cib>")
    run_agent(log, **resource_alert(task="monitor", interval=5000, rc=7, desc="not running", CIB_file=empty))
    [event] = logged(log)
    assert event["what"] == "monitor failed (rc 7 OCF_NOT_RUNNING)" and event["reason"] == "not running"


def test_a_timeout_says_after_how_long(log, tmp_path):
    empty = tmp_path / "empty.xml"
    empty.write_text("<cib/>")
    run_agent(log, **resource_alert(rc=1, status=2, desc="Timed Out", CIB_file=empty))
    [event] = logged(log)
    assert event["what"] == "start timed out" and event["reason"] == "Timed Out after 30 ms"


@pytest.mark.parametrize("alert", [
    resource_alert(task="monitor", interval=5000),                 # a successful recurring monitor
    resource_alert(task="monitor", interval=5000, status=1, desc="Cancelled"),
    resource_alert(task="notify"),
    resource_alert(status=-1, desc="pending"),
], ids=["monitor-ok", "cancelled", "notify-ok", "pending"])
def test_noise_is_not_recorded(log, alert):
    run_agent(log, **alert)
    assert logged(log) == [] and not log.exists()


def test_start_and_stop_are_recorded_as_info(log):
    run_agent(log, **resource_alert())
    run_agent(log, **resource_alert(task="stop"))
    assert [(e["what"], e["level"]) for e in logged(log)] == [("start ok", "info"), ("stop ok", "info")]


def test_attribute_changes_only(log):
    """attrd alerts every node's value at each write: one line per change, the old value as the reason."""
    for value in ("1", "1", "0", "0", "1"):
        run_agent(log, kind="attribute", node="glance1", attribute_name="ping-public", attribute_value=value)
    run_agent(log, kind="attribute", node="glance2", attribute_name="ping-public", attribute_value="1")
    run_agent(log, kind="attribute", node="glance1", attribute_name="glance-api-drained", attribute_value="1")
    run_agent(log, kind="attribute", node="glance1", attribute_name="glance-api-drained", attribute_value="")
    assert [(e["node"], e["what"], e["reason"]) for e in logged(log)] == [
        ("glance1", "ping-public=1", "first seen"),
        ("glance1", "ping-public=0", "was 1"),
        ("glance1", "ping-public=1", "was 0"),
        ("glance2", "ping-public=1", "first seen"),
        ("glance1", "glance-api-drained=1", "first seen"),
        ("glance1", "glance-api-drained removed", "was 1"),
    ]
    assert events.find_events(log.read_text(), kind="attribute", attribute="ping-public", value="0") != []


def test_concurrent_alerts_write_whole_lines(log):
    env = {"PATH": "/usr/bin:/bin", "CRM_alert_version": "2.1.5", "CRM_alert_recipient": str(log),
           "CRM_alert_kind": "node", "CRM_alert_desc": "lost"}
    procs = [subprocess.Popen([str(AGENT)], env=dict(env, CRM_alert_node=f"node{i}"))
             for i in range(24)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 24
    lines = log.read_text().splitlines()
    assert len(lines) == 24 and all(json.loads(line)["what"] == "node lost" for line in lines)
    assert {json.loads(line)["node"] for line in lines} == {f"node{i}" for i in range(24)}


def test_the_log_is_rotated_at_4_mib(log):
    with open(log, "wb") as f:
        f.truncate(4 << 20)
    run_agent(log, kind="node", node="glance1", desc="member")
    assert (log.parent / "events.log.1").stat().st_size == 4 << 20
    assert [e["what"] for e in logged(log)] == ["node member"]


def test_without_a_usable_recipient_it_still_exits_0(tmp_path):
    run_agent(tmp_path / "missing-dir" / "events.log", kind="node", node="glance1", desc="lost")
    proc = subprocess.run([str(AGENT)], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          check=False, timeout=30)
    assert proc.returncode == 0 and "CRM_alert_kind" in proc.stderr


def receivers(tmp_path, **content) -> Path:
    path = tmp_path / "alert-receivers.json"
    path.write_text(json.dumps(content))
    return path


def test_the_command_receiver_gets_the_event_on_stdin_and_in_its_environment(log, tmp_path):
    out = tmp_path / "received"
    script = tmp_path / "receiver"
    script.write_text(f"#!/bin/sh\ncat > {out}.stdin\nenv > {out}.env\n")
    script.chmod(0o755)
    run_agent(log, kind="node", node="glance3", desc="lost",
              receivers_file=receivers(tmp_path, command=f"{script} --flag", timeout=5))
    [event] = logged(log)
    assert json.loads(Path(f"{out}.stdin").read_text()) == event
    env = dict(line.split("=", 1) for line in Path(f"{out}.env").read_text().splitlines() if "=" in line)
    assert env["GLANCE_HA_EVENT_KIND"] == "node" and env["GLANCE_HA_EVENT_NODE"] == "glance3"
    assert json.loads(env["GLANCE_HA_EVENT"]) == event and env["CRM_alert_desc"] == "lost"


class Catcher(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Catcher.received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def http_receiver():
    Catcher.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_the_url_receiver_gets_a_post_of_the_event(log, tmp_path, http_receiver):
    run_agent(log, kind="fencing", node="glance2", task="off", rc=0, desc="Operation off of glance2: OK",
              receivers_file=receivers(tmp_path, url=f"{http_receiver}/hooks/T0KEN?x=1", timeout=5))
    [event] = logged(log)
    [(path, headers, body)] = Catcher.received
    assert path == "/hooks/T0KEN?x=1" and body == event
    assert headers["Content-Type"] == "application/json" and "Authorization" not in headers


def test_credentials_in_the_url_become_a_basic_authorization(log, tmp_path, http_receiver):
    url = http_receiver.replace("http://", "http://alert%40ops:s3cret@")
    run_agent(log, kind="node", node="glance1", desc="member",
              receivers_file=receivers(tmp_path, url=url + "/in", timeout=5))
    [(path, headers, _)] = Catcher.received
    assert path == "/in" and headers["Authorization"] == "Basic YWxlcnRAb3BzOnMzY3JldA=="  # alert@ops:s3cret


@pytest.mark.parametrize("broken", [
    {"url": "http://127.0.0.1:9/unreachable"},
    {"command": "/bin/false"},
    {"command": "/nonexistent/receiver"},
    {"command": "/bin/sleep 30", "timeout": 1},
], ids=["unreachable-url", "failing-command", "missing-command", "slow-command"])
def test_a_broken_receiver_still_exits_0_and_the_line_is_logged(log, tmp_path, broken):
    started = time.monotonic()
    proc = run_agent(log, kind="node", node="glance2", desc="lost",
                     receivers_file=receivers(tmp_path, **dict({"timeout": 5}, **broken)))
    assert time.monotonic() - started < 10
    assert [e["what"] for e in logged(log)] == ["node lost"]
    assert "receiver failed for node glance2: node lost" in proc.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_https_is_verified(log, tmp_path):
    """A self-signed certificate is refused: the event is not sent, the line is still logged."""
    import ssl
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    Catcher.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        proc = run_agent(log, kind="node", node="glance2", desc="lost", receivers_file=receivers(
            tmp_path, url=f"https://127.0.0.1:{server.server_address[1]}/", timeout=5))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert Catcher.received == [] and "CERTIFICATE_VERIFY_FAILED" in proc.stderr
    assert [e["what"] for e in logged(log)] == ["node lost"]
