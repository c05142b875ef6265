"""The agent against the fake glance-api: every path of start, stop, monitor and validate-all."""
import json
import os
import pwd
import re
import signal
import stat
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import (
    AGENT,
    DTD,
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_ERR_PERM,
    OCF_ERR_UNIMPLEMENTED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    free_port,
    kill_pids,
)

# Parameters of openstack-resource-agents' shell ocf/glance-api and their defaults (None: no
# default there). An existing CIB must keep working when the file is swapped.
ORIGINAL_PARAMETERS = {
    "binary": "glance-api",
    "config": "/etc/glance/glance-api.conf",
    "user": "glance",
    "pid": "$HA_RSCTMP/$OCF_RESOURCE_INSTANCE.pid",
    "os_username": None,
    "os_password": None,
    "os_tenant_name": None,
    "os_auth_url": None,
    "client_binary": "glance",
    "additional_parameters": None,
}


def metadata():
    out = subprocess.run([str(AGENT), "meta-data"], capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "OCF_ROOT": "/usr/lib/ocf"})
    return out.stdout


# ---------------------------------------------------------------------------------------------
# meta-data, usage, unknown action

def test_metadata_is_valid_against_the_ocf_dtd(tmp_path):
    (tmp_path / "md.xml").write_text(metadata())
    lint = subprocess.run(["xmllint", "--noout", "--dtdvalid", DTD, str(tmp_path / "md.xml")],
                          capture_output=True, text=True)
    assert lint.returncode == 0, lint.stderr


def test_metadata_keeps_every_original_parameter_and_default():
    root = ET.fromstring(metadata())
    params = {p.get("name"): p for p in root.iter("parameter")}
    for name, default in ORIGINAL_PARAMETERS.items():
        assert name in params, name
        content = params[name].find("content")
        assert content.get("default") in (default, "" if default is None else default), name
        assert params[name].get("required", "0") == "0", name


def test_metadata_marks_unsafe_parameters_deprecated_and_timeouts_have_units():
    root = ET.fromstring(metadata())
    params = {p.get("name"): p for p in root.iter("parameter")}
    for name in ("os_username", "os_password", "os_tenant_name", "os_auth_url", "client_binary"):
        assert params[name].find("shortdesc").text.startswith("Deprecated"), name
    for name in ("binary", "config", "auth_config", "store_mountpoint"):
        assert not params[name].find("shortdesc").text.startswith("Deprecated"), name
    actions = {(a.get("name"), a.get("depth")) for a in root.iter("action")}
    assert {("start", None), ("stop", None), ("monitor", "0"), ("monitor", "10"),
            ("validate-all", None), ("meta-data", None)} <= actions
    for action in root.iter("action"):
        assert action.get("timeout").endswith("s"), action.attrib
    assert params["http_timeout"].find("content").get("type") == "integer"


def test_usage_and_unknown_action(ra):
    assert ra.run("usage").rc == OCF_SUCCESS
    assert "start" in ra.run("usage").stdout
    result = ra.run("frobnicate")
    assert result.rc == OCF_ERR_UNIMPLEMENTED
    assert "frobnicate" in result.reason


# ---------------------------------------------------------------------------------------------
# start / monitor / stop on a healthy glance-api

def test_start_monitor_stop_cycle(ra):
    assert ra.run("monitor", interval=0).rc == OCF_NOT_RUNNING  # probe on a stopped node
    result = ra.run("start")
    assert result.rc == OCF_SUCCESS, result
    pid = ra.pid()
    # dropped privileges itself, in its own session (so the group holds the workers)
    assert os.stat("/proc/%d" % pid).st_uid == pwd.getpwnam("glance").pw_uid
    assert os.getsid(pid) == pid and os.getpgid(pid) == pid
    assert len(ra.processes()) == 3  # parent + 2 workers
    for level in (0, 10):
        assert ra.run("monitor", level=level).rc == OCF_SUCCESS
    assert ra.run("monitor", interval=0).rc == OCF_SUCCESS  # probe on a running node
    assert ra.run("status").rc == OCF_SUCCESS
    again = ra.run("start")
    assert again.rc == OCF_SUCCESS and ra.pid() == pid and len(ra.processes()) == 3
    assert "already running" in ra.log()
    assert ra.run("stop").rc == OCF_SUCCESS
    assert ra.processes() == [] and not ra.pidfile.exists()
    assert ra.run("monitor").rc == OCF_NOT_RUNNING
    assert ra.run("stop").rc == OCF_SUCCESS  # stop when stopped


def test_environment_of_glance_api_holds_no_monitor_password(ra):
    ra.params.update(os_username="admin", os_password="topsecret", os_tenant_name="admin",
                     os_auth_url="http://127.0.0.1:1/v3")
    assert ra.run("start").rc == OCF_SUCCESS
    with open("/proc/%d/environ" % ra.pid(), "rb") as handle:
        environ = handle.read()
    assert b"topsecret" not in environ and b"OCF_RESKEY" not in environ


def test_start_returns_only_once_the_api_answers(ra):
    ra.write_config(fake={"startup_delay": "2"})
    result = ra.run("start")
    assert result.rc == OCF_SUCCESS
    # the fake logs each request before it answers: the agent had its 200 before returning
    assert '"GET /healthcheck HTTP/1.0" 200' in _console(ra)
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", ra.port, timeout=2)
    conn.request("GET", "/healthcheck")
    assert conn.getresponse().status == 200


def test_start_fails_with_the_last_log_lines_when_glance_dies(ra):
    ra.write_config(fake={"mode": "crash"})
    result = ra.run("start")
    assert result.rc == OCF_ERR_GENERIC
    assert "the config is broken" in result.reason
    # noticed as it exited, not after the start timeout
    assert "exited during start" in result.reason and "did not become healthy" not in result.reason


def test_start_that_never_gets_healthy_fails_within_its_timeout_and_cleans_up(ra):
    ra.write_config(fake={"mode": "hung"})
    result = ra.run("start", timeout=8)
    assert result.rc == OCF_ERR_GENERIC
    assert result.elapsed < 8
    assert "did not become healthy" in result.reason
    assert ra.processes() == []


def test_default_pid_file_and_binary_name_like_the_original(ra):
    params = {"config": str(ra.config)}  # binary found by name in PATH, user glance
    result = ra.run("start", params=params)
    assert result.rc == OCF_SUCCESS, result
    assert (ra.rsctmp / (ra.instance + ".pid")).exists()
    assert ra.run("monitor", params=params).rc == OCF_SUCCESS
    assert ra.run("stop", params=params).rc == OCF_SUCCESS
    assert ra.processes() == []


def test_clone_instances_do_not_share_pid_files_or_state(ra):
    assert ra.run("start", extra={"OCF_RESOURCE_INSTANCE": "p_glance-api:0"}).rc == OCF_SUCCESS
    assert (ra.rsctmp / "p_glance-api:0.pid").exists()
    other = ra.run("monitor", extra={"OCF_RESOURCE_INSTANCE": "p_glance-api:1"})
    assert other.rc == OCF_NOT_RUNNING  # instance 1 does not claim instance 0's process
    assert ra.run("stop", extra={"OCF_RESOURCE_INSTANCE": "p_glance-api:0"}).rc == OCF_SUCCESS


# ---------------------------------------------------------------------------------------------
# monitor failures

def _spawn_own(ra, argv):
    """A process we start ourselves, in its own session, its pid written to the pid file."""
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ra.pidfile.parent.mkdir(parents=True, exist_ok=True)
    ra.pidfile.write_text("%d\n" % proc.pid)
    return proc


def test_hung_glance_fails_the_monitor_within_the_http_timeout(ra):
    ra.write_config(fake={"mode": "hung"})
    proc = _spawn_own(ra, [str(ra.binary), "--config-file", str(ra.config)])
    try:
        time.sleep(0.5)
        ra.params["http_timeout"] = "2"
        result = ra.run("monitor", timeout=20)
        assert result.rc == OCF_ERR_GENERIC
        # gave up after http_timeout, not a quarter of the op's timeout (5 s)
        assert "did not answer GET /healthcheck within 2s" in result.reason
        assert result.elapsed < 20  # the op's timeout: the contract
    finally:
        proc.kill()
        proc.wait()


def fake_attrd_updater(ra, rc=0):
    """An attrd_updater first in the agent's PATH that records its arguments, one call a line."""
    calls = ra.root / "attrd_calls"
    script = ra.bindir / "attrd_updater"
    script.write_text("#!/bin/sh\necho \"$*\" >> %s\nexit %d\n" % (calls, rc))
    script.chmod(0o755)
    return lambda: calls.read_text().splitlines() if calls.exists() else []


def test_healthcheck_disabled_by_file_drains_the_node_instead_of_failing_it(ra):
    calls = fake_attrd_updater(ra)
    disable = ra.root / "healthcheck_disable"
    ra.write_config(fake={"disable_by_file_path": str(disable)})
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor").rc == OCF_SUCCESS and calls() == []
    disable.touch()
    pid = ra.pid()
    assert ra.run("monitor").rc == OCF_SUCCESS
    assert calls() == ["--name glance-api-drained --update 1"]
    assert ra.run("monitor", level=10).rc == OCF_SUCCESS
    assert len(calls()) == 1  # already drained: no second update
    assert ra.pid() == pid and "node drained" in ra.log()
    disable.unlink()
    assert ra.run("monitor").rc == OCF_SUCCESS
    assert calls()[1:] == ["--name glance-api-drained --delete"]
    # a stop removes the attribute of a drained instance; a start while disabled is drained
    disable.touch()
    assert ra.run("monitor").rc == OCF_SUCCESS
    assert ra.run("stop").rc == OCF_SUCCESS
    assert calls()[2:] == ["--name glance-api-drained --update 1", "--name glance-api-drained --delete"]
    assert ra.run("start").rc == OCF_SUCCESS
    assert calls()[4:] == ["--name glance-api-drained --update 1"]
    assert "started" in ra.log() and "drained (healthcheck disabled by file)" in ra.log()


def test_without_drain_attribute_a_disabled_healthcheck_fails_the_monitor(ra):
    calls = fake_attrd_updater(ra)
    disable = ra.root / "healthcheck_disable"
    ra.write_config(fake={"disable_by_file_path": str(disable)})
    assert ra.run("start").rc == OCF_SUCCESS
    disable.touch()
    result = ra.run("monitor", params=dict(ra.params, drain_attribute=""))
    assert result.rc == OCF_ERR_GENERIC and "503" in result.reason and "DISABLED BY FILE" in result.reason
    assert calls() == []


def test_a_failed_attribute_update_is_retried_and_the_monitor_still_succeeds(ra):
    calls = fake_attrd_updater(ra, rc=1)
    disable = ra.root / "healthcheck_disable"
    ra.write_config(fake={"disable_by_file_path": str(disable)})
    assert ra.run("start").rc == OCF_SUCCESS
    disable.touch()
    assert ra.run("monitor").rc == OCF_SUCCESS
    assert ra.run("monitor").rc == OCF_SUCCESS
    assert calls() == ["--name glance-api-drained --update 1"] * 2
    assert "could not set node attribute glance-api-drained" in ra.log()


def test_unhealthy_answer_fails_and_missing_healthcheck_falls_back_to_versions(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    ra.write_config(fake={"mode": "unhealthy"})
    assert ra.run("stop").rc == OCF_SUCCESS
    result = ra.run("start", timeout=5)
    assert result.rc == OCF_ERR_GENERIC and "503" in result.reason
    ra.write_config(fake={"mode": "no_healthcheck"})
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor").rc == OCF_SUCCESS


def test_dead_glance_is_not_running(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    kill_pids(ra.processes())
    time.sleep(0.2)
    assert ra.run("monitor").rc == OCF_NOT_RUNNING
    assert ra.run("monitor", interval=0).rc == OCF_NOT_RUNNING
    assert ra.run("stop").rc == OCF_SUCCESS


def test_wrong_process_in_pid_file_is_not_glance_and_is_left_alone(ra):
    proc = _spawn_own(ra, ["sleep", "300"])
    try:
        assert ra.run("monitor").rc == OCF_NOT_RUNNING
        assert "not glance-api" in ra.log()
        assert ra.run("stop").rc == OCF_SUCCESS
        assert proc.poll() is None  # stop did not kill somebody else's process
        result = ra.run("start")
        assert result.rc == OCF_SUCCESS and ra.pid() != proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_stale_pid_file(ra):
    dead = subprocess.Popen(["true"])
    dead.wait()
    ra.pidfile.parent.mkdir(parents=True, exist_ok=True)
    ra.pidfile.write_text("%d\n" % dead.pid)
    assert ra.run("monitor").rc == OCF_NOT_RUNNING
    assert ra.run("stop").rc == OCF_SUCCESS
    ra.pidfile.write_text("%d\n" % dead.pid)
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.pid() != dead.pid and ra.run("monitor").rc == OCF_SUCCESS
    ra.pidfile.write_text("garbage\n")
    assert ra.run("monitor").rc == OCF_NOT_RUNNING


def test_workers_left_behind_are_a_failure_and_stop_removes_them(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    parent = ra.pid()
    os.kill(parent, signal.SIGKILL)
    time.sleep(0.3)
    workers = ra.processes()
    assert len(workers) == 2 and parent not in workers
    for interval in (10, 0):  # recurring monitor and probe: failed, so Pacemaker runs stop
        result = ra.run("monitor", interval=interval)
        assert result.rc == OCF_ERR_GENERIC and "workers" in result.reason
    assert ra.run("stop").rc == OCF_SUCCESS
    assert ra.processes() == []
    assert ra.run("monitor").rc == OCF_NOT_RUNNING


def test_glance_api_in_another_pid_namespace_is_not_ours(ra):
    """A container on the node runs glance-api with the same command line: stop must leave it."""
    cmd = [str(ra.binary), "--config-file", str(ra.config)]
    other = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child"] + cmd)
    try:
        time.sleep(1.0)
        inside = [p for p in ra.processes() if p != other.pid]
        assert inside, "the fake glance-api in the other namespace did not start"
        assert ra.run("stop").rc == OCF_SUCCESS
        assert ra.run("monitor").rc == OCF_NOT_RUNNING
        assert [p for p in ra.processes() if p != other.pid] == inside
    finally:
        other.kill()  # --kill-child: the namespace's init, and so all of it, dies with unshare
        other.wait(timeout=10)
        kill_pids([p for p in ra.processes()])


def test_stop_escalates_to_sigkill_before_the_timeout(ra):
    ra.write_config(fake={"ignore_term": "true"})
    assert ra.run("start").rc == OCF_SUCCESS
    assert len(ra.processes()) == 3
    result = ra.run("stop", timeout=8)
    assert result.rc == OCF_SUCCESS, result
    assert result.elapsed < 8
    assert ra.processes() == []
    assert "SIGKILL" in ra.log()


def test_stop_with_the_binary_gone_and_with_bad_parameters(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    ra.binary.rename(ra.binary.with_name("glance-api.moved"))
    try:
        ra.params["http_timeout"] = "soon"
        result = ra.run("stop")
        assert result.rc == OCF_SUCCESS, result
        assert ra.processes() == []
    finally:
        ra.binary.with_name("glance-api.moved").rename(ra.binary)


def test_sigstop_frozen_glance_fails_within_one_interval_plus_timeout(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    pids = ra.processes()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        # the monitor op of the CIB: interval 5s, timeout 20s
        result = ra.run("monitor", level=10, interval=5, timeout=20)
        assert result.rc == OCF_ERR_GENERIC
        assert result.elapsed < 5 + 20
        # only the workers frozen (parent looks fine): the HTTP check still catches it
        os.kill(ra.pid(), signal.SIGCONT)
        ra.params["http_timeout"] = "2"
        result = ra.run("monitor", interval=5, timeout=20)
        assert result.rc == OCF_ERR_GENERIC
        assert "did not answer GET /healthcheck within 2s" in result.reason
        assert result.elapsed < 20
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert ra.run("monitor").rc == OCF_SUCCESS


# ---------------------------------------------------------------------------------------------
# level 10: the image store

def test_store_missing_fails_level_10_only(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    ra.store.rename(ra.root / "images.away")
    assert ra.run("monitor", level=0).rc == OCF_SUCCESS
    result = ra.run("monitor", level=10)
    assert result.rc == OCF_ERR_INSTALLED and str(ra.store) in result.reason
    assert "does not exist" in result.reason and "create it" in result.reason
    (ra.root / "images.away").rename(ra.store)
    assert ra.run("monitor", level=10).rc == OCF_SUCCESS


def test_store_not_writable_by_the_glance_user_fails_although_root_could(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    os.chown(ra.store, 0, 0)
    ra.store.chmod(0o755)
    assert os.access(ra.store, os.W_OK)  # root may: the check must be made as glance
    result = ra.run("monitor", level=10)
    assert result.rc == OCF_ERR_PERM and "user glance" in result.reason
    assert "chown" in result.reason
    glance = pwd.getpwnam("glance")
    os.chown(ra.store, glance.pw_uid, glance.pw_gid)
    assert ra.run("monitor", level=10).rc == OCF_SUCCESS
    assert os.listdir(ra.store) == []  # the write probe cleaned up after itself


def _in_private_mount(store, options, then=""):
    """Run the agent in a private mount namespace with a tmpfs on the store (so no mount leaks
    into the machine's namespace); then: a shell command run before the agent."""
    glance = pwd.getpwnam("glance")
    script = ("mount -t tmpfs -o %s,mode=0755,uid=%d,gid=%d gha-store %s && %s exec \"$@\""
              % (options, glance.pw_uid, glance.pw_gid, store, then + " ;" if then else ""))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]


def _on_a_full_store(store):
    """The agent with a 64 KiB tmpfs on the store, filled up to the last byte by root first."""
    return _in_private_mount(store, "rw,size=64k",
                             then="dd if=/dev/zero of=%s/fill bs=4k 2>/dev/null" % store)


def test_read_only_store_fails_level_10(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    read_only = ra.run("monitor", level=10, wrapper=_in_private_mount(ra.store, "ro"))
    assert read_only.rc == OCF_ERR_GENERIC
    assert "Read-only file system" in read_only.reason
    read_write = ra.run("monitor", level=10, wrapper=_in_private_mount(ra.store, "rw"))
    assert read_write.rc == OCF_SUCCESS, read_write


def test_full_store_fails_level_10(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    full = ra.run("monitor", level=10, wrapper=_on_a_full_store(ra.store))
    assert full.rc == OCF_ERR_GENERIC, full
    assert "No space left on device" in full.reason and "free space" in full.reason
    roomy = ra.run("monitor", level=10, wrapper=_in_private_mount(ra.store, "rw,size=64k"))
    assert roomy.rc == OCF_SUCCESS, roomy


def test_store_must_be_on_store_mountpoint(ra):
    assert ra.run("start").rc == OCF_SUCCESS
    ra.params["store_mountpoint"] = str(ra.store)
    result = ra.run("monitor", level=10)  # not mounted: writing there would fill the local disk
    assert result.rc == OCF_ERR_INSTALLED and "store_mountpoint" in result.reason
    assert "not mounted" in result.reason
    mounted = ra.run("monitor", level=10, wrapper=_in_private_mount(ra.store, "rw"))
    assert mounted.rc == OCF_SUCCESS, mounted


def test_store_marker_tells_an_unmounted_share_from_the_store(ra):
    """A share that failed to mount leaves the empty directory underneath: no marker there."""
    ra.params["store_marker"] = ".glance-ha-store"
    result = ra.run("start")
    assert result.rc == OCF_ERR_INSTALLED and ra.processes() == []
    assert "image store %s has no .glance-ha-store file" % ra.store in result.reason
    assert "probably not mounted" in result.reason
    (ra.store / ".glance-ha-store").touch()
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor", level=10).rc == OCF_SUCCESS
    (ra.store / ".glance-ha-store").unlink()  # the share went away under a running glance-api
    assert ra.run("monitor", level=0).rc == OCF_SUCCESS
    assert ra.run("monitor", level=10).rc == OCF_ERR_INSTALLED


def test_staging_and_tasks_directories_are_checked_at_level_10(ra):
    glance = pwd.getpwnam("glance")
    for name in ("staging", "tasks"):
        (ra.root / name).mkdir()
        os.chown(ra.root / name, glance.pw_uid, glance.pw_gid)
    ra.write_config(os_glance_staging_store={"filesystem_store_datadir": str(ra.root / "staging")},
                    os_glance_tasks_store={"filesystem_store_datadir": str(ra.root / "tasks")},
                    DEFAULT={"node_staging_uri": "file://%s" % (ra.root / "staging")})
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor", level=10).rc == OCF_SUCCESS
    os.chown(ra.root / "staging", 0, 0)
    result = ra.run("monitor", level=10)
    assert result.rc == OCF_ERR_PERM
    assert "staging directory %s" % (ra.root / "staging") in result.reason
    assert "user glance" in result.reason and "chown" in result.reason
    os.chown(ra.root / "staging", glance.pw_uid, glance.pw_gid)
    (ra.root / "tasks").rmdir()
    result = ra.run("monitor", level=10)
    assert result.rc == OCF_ERR_INSTALLED
    assert "tasks directory %s" % (ra.root / "tasks") in result.reason


def test_every_file_backend_of_enabled_backends_is_checked(ra):
    glance = pwd.getpwnam("glance")
    fast = ra.root / "fast"
    fast.mkdir()
    os.chown(fast, glance.pw_uid, glance.pw_gid)
    ra.write_config(DEFAULT={"enabled_backends": "fast:file, slow:file, web:http"},
                    fast={"filesystem_store_datadir": str(fast)},
                    slow={"filesystem_store_datadir": str(ra.root / "slow")})
    result = ra.run("start")  # refused before glance-api is spawned
    assert result.rc == OCF_ERR_INSTALLED and str(ra.root / "slow") in result.reason
    assert ra.processes() == []
    (ra.root / "slow").mkdir()
    os.chown(ra.root / "slow", glance.pw_uid, glance.pw_gid)
    assert ra.run("start").rc == OCF_SUCCESS
    (ra.root / "slow").rmdir()
    result = ra.run("monitor", level=10)
    assert result.rc == OCF_ERR_INSTALLED and str(ra.root / "slow") in result.reason


# ---------------------------------------------------------------------------------------------
# level 10 and start: the clock (max_clock_skew), against a reference's Date header

def test_clock_skew_fails_start_and_level_10_on_this_node_only(ra, clock_server):
    ahead = clock_server(+300)  # the reference is 5 minutes ahead: this node is behind
    ra.params.update(max_clock_skew="60", clock_reference=ahead.url)
    assert ra.run("monitor", interval=0).rc == OCF_NOT_RUNNING
    result = ra.run("start")
    assert result.rc == OCF_ERR_GENERIC and ra.processes() == []
    assert re.search(r"this node's clock is about (299|300|301) s behind %s" % re.escape(ahead.url),
                     result.reason), result.reason  # a Date has whole seconds
    assert "max_clock_skew=60" in result.reason and "time sync" in result.reason
    behind = clock_server(-300)
    ra.params["clock_reference"] = behind.url
    assert re.search(r"about (299|300|301) s ahead of", ra.run("start").reason)
    ra.params["max_clock_skew"] = "0"  # off: glance starts; then the monitor finds the skew
    assert ra.run("start").rc == OCF_SUCCESS
    ra.params["max_clock_skew"] = "60"
    assert ra.run("monitor", level=0).rc == OCF_SUCCESS  # level 0 stays cheap: no clock check
    asked = behind.requests()
    for _ in range(2):  # nothing cached: every level-10 monitor asks again
        monitor = ra.run("monitor", level=10)
        assert monitor.rc == OCF_ERR_GENERIC and "clock" in monitor.reason
    assert behind.requests() == asked + 2


def test_a_clock_within_max_clock_skew_passes(ra, clock_server):
    near = clock_server(+20)
    ra.params.update(max_clock_skew="60", clock_reference=near.url)
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor", level=10).rc == OCF_SUCCESS
    assert near.requests() == 2 and "clock within" in ra.log()


def test_clock_reference_defaults_to_keystone_of_the_config(ra, clock_server):
    keystone = clock_server(-600)
    ra.write_config(keystone_authtoken={"www_authenticate_uri": keystone.url.rstrip("/"),
                                        "auth_url": "http://127.0.0.1:1/v3"})
    ra.params["max_clock_skew"] = "60"
    result = ra.run("start")
    assert result.rc == OCF_ERR_GENERIC
    assert re.search(r"about (599|600|601) s ahead of %s \(" % re.escape(keystone.url.rstrip("/")),
                     result.reason), result.reason
    ra.write_config(keystone_authtoken={"www_authenticate_uri": None})  # then auth_url: down
    assert ra.run("start").rc == OCF_SUCCESS


def test_a_reference_without_date_or_unreachable_skips_the_clock_check(ra, clock_server):
    dateless = clock_server("none")
    ra.params.update(max_clock_skew="60", clock_reference=dateless.url)
    assert ra.run("start").rc == OCF_SUCCESS
    assert dateless.requests() == 1
    assert "clock check skipped: %s answered without a Date header" % dateless.url in ra.log()
    ra.params["clock_reference"] = "http://127.0.0.1:%d/" % free_port()  # nothing listens
    assert ra.run("monitor", level=10).rc == OCF_SUCCESS
    assert "clock check skipped: no usable answer from http://127.0.0.1:" in ra.log()
    assert "Connection refused" in ra.log()


def test_clock_check_over_https_verifies_the_certificate(ra, clock_server):
    ahead = clock_server(+300, tls=True)
    ra.params.update(max_clock_skew="60", clock_reference=ahead.url)
    # a certificate no CA of this node vouches for: no answer to trust, the check is skipped
    assert ra.run("start").rc == OCF_SUCCESS
    assert "CERTIFICATE_VERIFY_FAILED" in ra.log() and ahead.requests() == 0
    trusted = ra.run("monitor", level=10, extra={"SSL_CERT_FILE": str(ahead.cert)})
    assert trusted.rc == OCF_ERR_GENERIC
    assert re.search(r"about (299|300|301) s behind %s" % re.escape(ahead.url), trusted.reason)


# ---------------------------------------------------------------------------------------------
# level 20: Keystone token, cached

def _with_keystone(ra, keystone, password=None):
    ra.write_config(
        keystone_authtoken={"auth_url": keystone.url + "/v3", "username": "glance",
                            "password": password or keystone.password,
                            "project_name": "service", "user_domain_name": "Default",
                            "project_domain_name": "Default"},
        fake={"tokens_file": str(keystone.tokens)})


def test_level_20_logs_in_once_and_reuses_the_cached_token(ra, fake_keystone):
    _with_keystone(ra, fake_keystone)
    assert ra.run("start").rc == OCF_SUCCESS
    for _ in range(3):
        result = ra.run("monitor", level=20)
        assert result.rc == OCF_SUCCESS, result
    assert fake_keystone.logins() == 1
    token_file = ra.state_dir / "token.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(ra.state_dir.stat().st_mode) == 0o700
    assert "s3cret" not in token_file.read_text()


def test_level_20_renews_a_token_before_it_expires(ra, fake_keystone):
    _with_keystone(ra, fake_keystone)
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor", level=20).rc == OCF_SUCCESS
    token_file = ra.state_dir / "token.json"
    cached = json.loads(token_file.read_text())
    cached["expires_at"] = time.time() + 200  # inside token_renew_before (300 s)
    token_file.write_text(json.dumps(cached))
    assert ra.run("monitor", level=20).rc == OCF_SUCCESS
    assert fake_keystone.logins() == 2
    assert json.loads(token_file.read_text())["token"] != cached["token"]


def test_level_20_logs_in_again_when_glance_rejects_an_expired_token(ra, fake_keystone):
    _with_keystone(ra, fake_keystone)
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor", level=20).rc == OCF_SUCCESS
    fake_keystone.tokens.write_text("")  # every issued token expired/revoked server side
    assert ra.run("monitor", level=20).rc == OCF_SUCCESS
    assert fake_keystone.logins() == 2


def test_level_20_fails_when_glance_rejects_even_a_fresh_token(ra, fake_keystone):
    _with_keystone(ra, fake_keystone)
    ra.write_config(fake={"tokens_file": "/nonexistent"})  # glance cannot validate tokens
    assert ra.run("start").rc == OCF_SUCCESS
    result = ra.run("monitor", level=20)
    assert result.rc == OCF_ERR_GENERIC and "401" in result.reason


def test_level_20_keystone_down_is_logged_not_blamed_on_glance(ra, fake_keystone):
    _with_keystone(ra, fake_keystone)
    assert ra.run("start").rc == OCF_SUCCESS
    fake_keystone.stop()
    result = ra.run("monitor", level=20)
    assert result.rc == OCF_SUCCESS
    assert "unreachable" in ra.log()
    ra.store.rename(ra.root / "gone")  # but the level-10 result still counts
    assert ra.run("monitor", level=20).rc == OCF_ERR_INSTALLED


def test_level_20_wrong_password_is_logged(ra, fake_keystone):
    _with_keystone(ra, fake_keystone, password="wrong")
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor", level=20).rc == OCF_SUCCESS
    assert "refused a token (HTTP 401)" in ra.log()


def test_level_20_with_clouds_yaml(ra, fake_keystone):
    clouds = ra.root / "clouds.yaml"
    clouds.write_text("clouds:\n  monitor:\n    auth:\n      auth_url: %s\n      username: u\n"
                      "      password: %s\n      project_name: p\n" % (fake_keystone.url,
                                                                     fake_keystone.password))
    clouds.chmod(0o600)
    ra.write_config(fake={"tokens_file": str(fake_keystone.tokens)})
    ra.params.update(auth_config=str(clouds), os_cloud="monitor")
    assert ra.run("start").rc == OCF_SUCCESS
    assert ra.run("monitor", level=20).rc == OCF_SUCCESS
    assert fake_keystone.logins() == 1
    ra.params["os_cloud"] = "nosuchcloud"  # the file lacks it on this node: this node's problem
    result = ra.run("validate-all")
    assert result.rc == OCF_ERR_INSTALLED and "os_cloud=nosuchcloud" in result.reason


def test_level_20_with_deprecated_parameters_logs_the_deprecation_once(ra, fake_keystone):
    ra.write_config(fake={"tokens_file": str(fake_keystone.tokens)})
    ra.params.update(os_username="admin", os_password=fake_keystone.password,
                     os_tenant_name="admin", os_auth_url=fake_keystone.url + "/v2.0/")
    assert ra.run("start").rc == OCF_SUCCESS
    for _ in range(2):
        assert ra.run("monitor", level=20).rc == OCF_SUCCESS
    log = ra.log()
    assert log.count("parameter os_password is deprecated") == 1
    login = json.loads(fake_keystone.logins_file.read_text().splitlines()[0])
    assert login["scope"]["project"]["name"] == "admin"


# ---------------------------------------------------------------------------------------------
# CIB values that can never work: OCF_ERR_CONFIGURED (the resource stops on every node), with one
# reason naming the parameter and the fix

@pytest.mark.parametrize("param, value", [
    ("config", "relative/glance-api.conf"),
    ("http_timeout", "soon"),
    ("http_timeout", "0"),
    ("token_renew_before", "-5"),
    ("store_mountpoint", "mnt/images"),
    ("store_marker", "a/b"),
    ("max_clock_skew", "-1"),
    ("max_clock_skew", "a minute"),
    ("clock_reference", "ftp://ntp.example.org/"),
    ("clock_reference", "http:///no-host"),
])
def test_bad_parameter(ra, param, value):
    ra.params[param] = value
    for action in ("validate-all", "start", "monitor"):
        result = ra.run(action)
        assert result.rc == OCF_ERR_CONFIGURED, (action, result)
        assert param in result.reason and "set" in result.reason
        assert len(result.reason.splitlines()) == 1
    assert ra.processes() == []


def test_incomplete_deprecated_credentials_in_the_cib_are_err_configured(ra):
    ra.params["os_username"] = "admin"  # no os_password, no os_auth_url: in the CIB, everywhere
    result = ra.run("validate-all")
    assert result.rc == OCF_ERR_CONFIGURED
    assert "the os_* parameters: auth_url, password missing" in result.reason
    assert "auth_config" in result.reason


@pytest.mark.parametrize("level", ["deep", "-1"])
def test_bad_check_level(ra, level):
    assert ra.run("start").rc == OCF_SUCCESS
    result = ra.run("monitor", level=level)
    assert result.rc == OCF_ERR_CONFIGURED and "OCF_CHECK_LEVEL" in result.reason


def test_two_instances_per_node_are_refused(ra):
    result = ra.run("validate-all", extra={"OCF_RESKEY_CRM_meta_clone_node_max": "2"})
    assert result.rc == OCF_ERR_CONFIGURED and "clone-node-max" in result.reason


# ---------------------------------------------------------------------------------------------
# What can differ between nodes: never OCF_ERR_CONFIGURED (issue 16: one node's unreadable config
# stopped the clone on all three). Each problem fails start (and validate-all) with a node-local
# code and a reason naming the thing and the fix, spawns nothing, and every probe of the node
# says OCF_NOT_RUNNING.

NODE_PROBLEMS: dict[str, tuple] = {}


def node_problem(code, *words, validate=None):
    """Register setup(ra) -> wrapper or None: the problem it makes, the code start returns (and
    validate-all, unless validate says otherwise), the words ({root}, {config}, {store},
    {binary} filled in) its reason must hold."""
    def register(setup):
        NODE_PROBLEMS[setup.__name__] = (setup, code, code if validate is None else validate, words)
        return setup
    return register


def _clouds_yaml(ra, text):
    clouds = ra.root / "clouds.yaml"
    clouds.write_text(text)
    clouds.chmod(0o600)
    ra.params.update(auth_config=str(clouds), os_cloud="monitor")


@node_problem(OCF_ERR_INSTALLED, "config={config}", "file not found on this node", "install it")
def config_missing(ra):
    ra.config.unlink()


@node_problem(OCF_ERR_PERM, "config={config}", "user glance cannot read it", "owner or mode")
def config_unreadable_by_glance(ra):
    ra.config.chmod(0o600)  # root:root 0600: root reads it, glance-api could not (issue 16)


@node_problem(OCF_ERR_PERM, "config={config}", "root cannot read it", "Permission denied")
def config_unreadable_even_by_root(ra):
    ra.config.chmod(0o000)  # as a root-squashed NFS or an LSM would: root without DAC override
    drop = "-dac_override,-dac_read_search"
    return ["setpriv", "--inh-caps", drop, "--bounding-set", drop]


@node_problem(OCF_ERR_INSTALLED, "config={config}", "not an INI file", "fix the file")
def config_unparsable(ra):
    ra.config.write_text("bind_port 9292\n[DEFAULT\n")


@node_problem(OCF_ERR_INSTALLED, "bind_port='http'", "{config}", "set it to 1-65535")
def config_bad_bind_port(ra):
    ra.write_config(DEFAULT={"bind_port": "http"})


@node_problem(OCF_ERR_INSTALLED, "user='nosuchuser'", "no such user on this node", "create it")
def user_missing(ra):
    ra.params["user"] = "nosuchuser"


@node_problem(OCF_ERR_INSTALLED, "binary={root}/gone/glance-api", "not found", "install glance-api")
def binary_missing(ra):
    ra.params["binary"] = str(ra.root / "gone" / "glance-api")


@node_problem(OCF_ERR_PERM, "binary={root}/private/glance-api", "user glance cannot execute it",
              "fix its mode")
def binary_not_executable_by_glance(ra):
    private = ra.root / "private"
    private.mkdir(mode=0o700)  # root may enter, glance may not
    ra.params["binary"] = str(ra.binary.rename(private / "glance-api"))


@node_problem(OCF_ERR_GENERIC, "exited during start", "ModuleNotFoundError",
              "glance_api_module_lost_in_an_upgrade", validate=OCF_SUCCESS)
def binary_broken(ra):
    # a bad package upgrade: the program is there, its Python module is not (validate-all
    # cannot know; start sees it exit at once and reports the console's last lines)
    ra.binary.write_text("#!/usr/bin/python3\nimport glance_api_module_lost_in_an_upgrade\n")


@node_problem(OCF_ERR_INSTALLED, "cannot read pid file {root}/piddir", "fix or remove it",
              validate=OCF_SUCCESS)
def pid_file_unreadable(ra):
    (ra.root / "piddir").mkdir()  # a directory where the pid file should be
    ra.params["pid"] = str(ra.root / "piddir")


@node_problem(OCF_ERR_INSTALLED, "image store {store}", "does not exist on this node", "create it")
def store_missing(ra):
    ra.store.rmdir()


@node_problem(OCF_ERR_PERM, "image store {store}", "user glance", "Permission denied", "chown")
def store_not_writable_by_glance(ra):
    os.chown(ra.store, 0, 0)


@node_problem(OCF_ERR_GENERIC, "image store {store}", "Read-only file system",
              "remount it read-write")
def store_read_only(ra):
    return _in_private_mount(ra.store, "ro")


@node_problem(OCF_ERR_GENERIC, "image store {store}", "No space left on device", "free space")
def store_full(ra):
    return _on_a_full_store(ra.store)


@node_problem(OCF_ERR_INSTALLED, "image store {store}", "store_mountpoint", "not mounted")
def store_not_on_its_mountpoint(ra):
    ra.params["store_mountpoint"] = str(ra.store)


@node_problem(OCF_ERR_INSTALLED, "image store {store} has no .glance-ha-store file",
              "probably not mounted", "mount it")
def store_marker_missing(ra):
    ra.params["store_marker"] = ".glance-ha-store"  # the store is an empty directory


@node_problem(OCF_ERR_PERM, "staging directory {root}/staging", "os_glance_staging_store",
              "user glance", "chown")
def staging_not_writable_by_glance(ra):
    (ra.root / "staging").mkdir()  # root:root 0755
    ra.write_config(os_glance_staging_store={"filesystem_store_datadir": str(ra.root / "staging")})


@node_problem(OCF_ERR_INSTALLED, "staging directory {root}/staging (node_staging_uri)",
              "does not exist")
def node_staging_uri_missing(ra):
    ra.write_config(DEFAULT={"node_staging_uri": "file://%s" % (ra.root / "staging")})


@node_problem(OCF_ERR_INSTALLED, "auth_config={root}/absent/clouds.yaml",
              "install the clouds.yaml there")
def clouds_yaml_missing(ra):
    ra.params.update(auth_config=str(ra.root / "absent" / "clouds.yaml"), os_cloud="monitor")


@node_problem(OCF_ERR_INSTALLED, "auth_config={root}/clouds.yaml", "not a YAML file",
              "fix the file")
def clouds_yaml_unparsable(ra):
    _clouds_yaml(ra, "clouds: [monitor:\n")


@node_problem(OCF_ERR_INSTALLED, "os_cloud=monitor", "{root}/clouds.yaml", "no such cloud",
              "add it to the file")
def clouds_yaml_lacks_the_cloud(ra):
    _clouds_yaml(ra, "clouds:\n  other:\n    auth:\n      auth_url: http://127.0.0.1:1\n")


@node_problem(OCF_ERR_INSTALLED, "{root}/clouds.yaml (cloud monitor): password missing",
              "fill them in")
def clouds_yaml_lacks_the_password(ra):
    _clouds_yaml(ra, "clouds:\n  monitor:\n    auth:\n      auth_url: http://127.0.0.1:1\n"
                     "      username: u\n")


@node_problem(OCF_ERR_INSTALLED, "auth_config={root}/absent/auth.conf", "file not found")
def auth_config_missing(ra):
    ra.params["auth_config"] = str(ra.root / "absent" / "auth.conf")


@node_problem(OCF_ERR_INSTALLED, "[keystone_authtoken] of {root}/auth.conf:",
              "username, password missing", "fill them in")
def auth_config_lacks_the_keys(ra):
    (ra.root / "auth.conf").write_text("[keystone_authtoken]\nauth_url = http://127.0.0.1:1\n")
    ra.params["auth_config"] = str(ra.root / "auth.conf")


@pytest.mark.parametrize("problem", sorted(NODE_PROBLEMS))
def test_a_node_local_problem_keeps_only_this_node_out(ra, problem):
    setup, code, validate_code, words = NODE_PROBLEMS[problem]
    wrapper = setup(ra) or ()
    probe = ra.run("monitor", interval=0, wrapper=wrapper)
    assert probe.rc == OCF_NOT_RUNNING, probe
    result = ra.run("start", wrapper=wrapper)
    assert result.rc == code, result
    names = {"root": ra.root, "config": ra.config, "store": ra.store, "binary": ra.binary}
    for word in words:
        assert word.format(**names) in result.reason, (word, result.reason)
    assert len(result.reason.splitlines()) == 1
    assert ra.processes() == []
    assert ra.run("monitor", interval=0, wrapper=wrapper).rc == OCF_NOT_RUNNING
    assert ra.run("validate-all", wrapper=wrapper).rc == validate_code


def test_a_probe_that_finds_glance_running_on_a_broken_node_reports_a_failure(ra):
    """Not OCF_ERR_INSTALLED: a probe's 5 could read as "not here" while glance-api runs."""
    assert ra.run("start").rc == OCF_SUCCESS
    ra.config.rename(ra.root / "glance-api.conf.away")
    try:
        probe = ra.run("monitor", interval=0)
        assert probe.rc == OCF_ERR_GENERIC
        assert probe.reason.startswith("glance-api runs but parameter config=%s" % ra.config)
        recurring = ra.run("monitor", interval=10)  # hard error: stopped and banned on this node
        assert recurring.rc == OCF_ERR_INSTALLED and "file not found" in recurring.reason
    finally:
        (ra.root / "glance-api.conf.away").rename(ra.config)
    assert ra.run("stop").rc == OCF_SUCCESS and ra.processes() == []


def test_level_20_without_credentials_names_the_fix(ra):
    result = ra.run("validate-all", level=20)
    assert result.rc == OCF_ERR_INSTALLED  # glance-api.conf of this node lacks them
    assert "keystone_authtoken" in result.reason and "password" in result.reason


def test_missing_binary_probe_says_not_running(ra):
    ra.params["binary"] = "/nonexistent/glance-api"
    assert ra.run("monitor", interval=0).rc == OCF_NOT_RUNNING
    tester = ra.run("monitor", interval=0, extra={"OCF_TESTER_FAIL_HAVE_BINARY": "1"})
    assert tester.rc == OCF_NOT_RUNNING


# ---------------------------------------------------------------------------------------------
# warm-up at start

def _console(ra):
    return (ra.state_dir / "console.log").read_text()


def test_start_warms_every_worker_with_authenticated_requests(ra, fake_keystone):
    _with_keystone(ra, fake_keystone)  # the fake glance-api has two workers, as in the lab
    ra.params["warm_up_requests"] = "8"
    result = ra.run("start")
    assert result.rc == OCF_SUCCESS, result
    assert "warm-up: 8 of 8 authenticated requests answered 200" in ra.log()
    assert fake_keystone.logins() == 1  # the level-20 token, cached for the monitor
    served = [line for line in _console(ra).splitlines() if '"GET /v2/images?limit=1' in line and " 200 " in line]
    assert len(served) == 8
    assert ra.run("monitor", level=20).rc == OCF_SUCCESS and fake_keystone.logins() == 1


def test_warm_up_without_usable_credentials_is_logged_not_a_failed_start(ra, fake_keystone):
    _with_keystone(ra, fake_keystone, password="wrong")
    ra.params["warm_up_requests"] = "4"
    result = ra.run("start")
    assert result.rc == OCF_SUCCESS, result
    assert "warm-up skipped" in ra.log()
    assert '"GET /v2/images' not in _console(ra)


def test_no_warm_up_by_default(ra, fake_keystone):
    _with_keystone(ra, fake_keystone)
    assert ra.run("start").rc == OCF_SUCCESS
    assert fake_keystone.logins() == 0 and "warm-up" not in ra.log()
