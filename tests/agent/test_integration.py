"""The agent on Debian's real glance-api 25 (Zed), with MariaDB and Keystone on loopback."""
import http.client
import json
import os
import signal
import time

from conftest import OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_NOT_RUNNING, OCF_SUCCESS


def healthcheck_status(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/healthcheck")
        return conn.getresponse().status
    finally:
        conn.close()


def test_real_glance_start_monitor_levels_kill_stop(real_glance):
    ra = real_glance
    assert ra.run("monitor", interval=0).rc == OCF_NOT_RUNNING
    result = ra.run("start", timeout=60)
    assert result.rc == OCF_SUCCESS, result
    # start returned once the API answers, not before
    assert healthcheck_status(ra.port) == 200
    pid = ra.pid()
    assert len(ra.processes()) >= 2 and all(os.getpgid(p) == pid for p in ra.processes())

    for level in (0, 10, 20):
        result = ra.run("monitor", level=level, interval=5)
        assert result.rc == OCF_SUCCESS, (level, result)
    # the next level-20 monitor reuses the cached token: no Keystone login of the agent's (not
    # a time bound: a cold glance worker validating its first token can take seconds)
    token = json.loads((ra.state_dir / "token.json").read_text())["token"]
    logins = ra.log().count("got a new Keystone token")
    assert logins == 1
    cached = ra.run("monitor", level=20, interval=5)
    assert cached.rc == OCF_SUCCESS, cached
    assert ra.log().count("got a new Keystone token") == logins
    assert json.loads((ra.state_dir / "token.json").read_text())["token"] == token

    # a store that vanished fails level 10 (this node's problem) but not level 0
    ra.store.rename(ra.store.with_name("images.away"))
    try:
        assert ra.run("monitor", level=10, interval=5).rc == OCF_ERR_INSTALLED
        assert ra.run("monitor", level=0, interval=5).rc == OCF_SUCCESS
    finally:
        ra.store.with_name("images.away").rename(ra.store)

    # kill -9 of the whole glance-api: monitor and probe say not running, stop succeeds
    os.killpg(pid, signal.SIGKILL)
    time.sleep(0.5)
    assert ra.run("monitor", interval=5).rc == OCF_NOT_RUNNING
    assert ra.run("monitor", interval=0).rc == OCF_NOT_RUNNING
    assert ra.run("stop").rc == OCF_SUCCESS
    assert ra.processes() == []


def test_real_glance_sigstop_and_parent_kill(real_glance):
    ra = real_glance
    assert ra.run("start", timeout=60).rc == OCF_SUCCESS
    pids = ra.processes()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        result = ra.run("monitor", level=10, interval=5, timeout=20)
        assert result.rc == OCF_ERR_GENERIC, result
        assert result.elapsed < 5 + 20
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert ra.run("monitor", interval=5).rc == OCF_SUCCESS

    # only the parent killed: whatever its workers do, the monitor must not say "running", and
    # stop must leave nothing behind
    os.kill(ra.pid(), signal.SIGKILL)
    time.sleep(0.5)
    assert ra.run("monitor", interval=5).rc in (OCF_ERR_GENERIC, OCF_NOT_RUNNING)
    result = ra.run("stop", timeout=30)
    assert result.rc == OCF_SUCCESS, result
    assert ra.processes() == []
