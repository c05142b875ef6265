"""The agent under a real single-node Pacemaker cluster (corosync + pacemakerd on loopback,
started and ended by pid here), managing the real glance-api as the deployment's CIB does."""
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import AGENT, processes_under

INSTALLED = Path("/usr/lib/ocf/resource.d/openstack/glance-api")
COROSYNC_CONF = Path("/etc/corosync/corosync.conf")
CIB_DIR = Path("/var/lib/pacemaker/cib")
PENGINE_DIR = Path("/var/lib/pacemaker/pengine")


def sh(*argv, check=True, timeout=60, **kwargs):
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError("%s: rc=%d %s%s" % (" ".join(argv), result.returncode,
                                                 result.stdout[-800:], result.stderr[-800:]))
    return result


def running(name):
    """pids of processes in our own pid and network namespaces whose executable is name (to
    refuse to run beside a cluster here; the lab's containers have their own namespaces)."""
    found = []
    mine = [os.readlink("/proc/self/ns/%s" % ns) for ns in ("pid", "net")]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if [os.readlink("/proc/%s/ns/%s" % (entry, ns)) for ns in ("pid", "net")] != mine:
                    continue
                if os.path.basename(os.readlink("/proc/%s/exe" % entry)) == name:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


@pytest.fixture
def cluster(stack, tmp_path):
    """corosync + pacemakerd on 127.0.0.1 with a temp corosync.conf; everything the test put
    in /etc/corosync, /var/lib/pacemaker and the OCF directory is put back afterwards."""
    for daemon in ("corosync", "pacemakerd"):
        assert not running(daemon), "a %s is already running on this machine" % daemon
    node = os.uname().nodename
    saved_conf = COROSYNC_CONF.read_bytes() if COROSYNC_CONF.exists() else None
    before = {path: set(os.listdir(path)) for path in (CIB_DIR, PENGINE_DIR)}
    assert not INSTALLED.exists(), "%s is installed already: not overwriting it" % INSTALLED
    made_provider_dir = not INSTALLED.parent.exists()
    logs = Path(stack.root) / "pacemaker-logs"
    logs.mkdir(exist_ok=True)
    shutil.chown(logs, "hacluster", "haclient")
    COROSYNC_CONF.write_text(
        "totem {\n version: 2\n cluster_name: glanceha-agent-test\n transport: knet\n"
        " crypto_cipher: none\n crypto_hash: none\n token: 3000\n}\n"
        "logging {\n to_logfile: yes\n logfile: %s/corosync.log\n to_syslog: no\n"
        " to_stderr: no\n}\n"
        "quorum {\n provider: corosync_votequorum\n}\n"
        "nodelist {\n node {\n  name: %s\n  nodeid: 1\n  ring0_addr: 127.0.0.1\n }\n}\n"
        % (logs, node))
    INSTALLED.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(AGENT, INSTALLED)
    INSTALLED.chmod(0o755)
    daemons = []
    env = dict(os.environ, PCMK_logfile=str(logs / "pacemaker.log"), PCMK_debug="no")
    try:
        corosync = subprocess.Popen(["corosync", "-f"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        daemons.append(corosync)
        wait_for(lambda: sh("corosync-cfgtool", "-s", check=False).returncode == 0, 30,
                 "corosync")
        pacemakerd = subprocess.Popen(["pacemakerd"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True, env=env)
        daemons.append(pacemakerd)
        wait_for(lambda: "partition with quorum" in sh("crm_mon", "-1", check=False).stdout, 90,
                 "pacemaker to come up with quorum")
        sh("crm_attribute", "--type", "crm_config", "--name", "stonith-enabled", "--update",
           "false")
        yield node
    finally:
        if daemons and daemons[-1].poll() is None and len(daemons) == 2:
            sh("crm_resource", "--resource", "cl_glance-api", "--set-parameter", "target-role",
               "--meta", "--parameter-value", "Stopped", check=False)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and processes_under(str(stack.glance_conf)):
                time.sleep(0.5)
        for proc in reversed(daemons):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=90)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            try:  # children of pacemakerd/corosync live in the session we gave them
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in processes_under(str(stack.glance_conf)):
            os.kill(pid, signal.SIGKILL)
        if saved_conf is None:
            COROSYNC_CONF.unlink(missing_ok=True)
        else:
            COROSYNC_CONF.write_bytes(saved_conf)
        for path, names in before.items():
            for name in set(os.listdir(path)) - names:
                (path / name).unlink()
        INSTALLED.unlink(missing_ok=True)
        # the agent's node-local state under Pacemaker's default HA_RSCTMP
        shutil.rmtree("/run/resource-agents/glance-api-p_glance-api", ignore_errors=True)
        Path("/run/resource-agents/p_glance-api.pid").unlink(missing_ok=True)
        if made_provider_dir:
            INSTALLED.parent.rmdir()


def glance_pid(stack):
    pids = [pid for pid in processes_under(str(stack.glance_conf)) if os.getpgid(pid) == pid]
    return pids[0] if len(pids) == 1 else None


def test_pacemaker_runs_the_clone_and_recovers_it(stack, cluster):
    node = cluster
    sh("crm", "configure", "primitive", "p_glance-api", "ocf:openstack:glance-api",
       "params", "config=%s" % stack.glance_conf, "user=glance",
       "op", "start", "timeout=60s", "op", "stop", "timeout=60s",
       "op", "monitor", "interval=5s", "timeout=20s", "OCF_CHECK_LEVEL=10")
    sh("crm", "configure", "clone", "cl_glance-api", "p_glance-api", "meta", "interleave=true")
    # --wait: until the cluster has no pending action (a start in progress also "runs" there)
    sh("crm_resource", "--wait", "--timeout", "90s", timeout=100)
    wait_for(lambda: "is running on: %s" % node in sh(
        "crm_resource", "--locate", "--resource", "cl_glance-api", check=False).stdout, 90,
        "cl_glance-api to run")
    status = sh("crm_mon", "-1", "--failcounts").stdout
    assert "Started" in status and "Failed" not in status and "fail-count" not in status, status
    first = wait_for(lambda: glance_pid(stack), 30, "glance-api's pid")
    check = sh("crm_resource", "--force-check", "--resource", "p_glance-api", check=False)
    assert check.returncode == 0, check.stdout + check.stderr + (
        Path(stack.root) / "pacemaker-logs" / "pacemaker.log").read_text()[-3000:]

    # kill -9 of glance-api: Pacemaker's level-10 monitor notices and restarts it
    os.killpg(first, signal.SIGKILL)
    second = wait_for(lambda: (glance_pid(stack) or first) != first and glance_pid(stack), 60,
                      "Pacemaker to restart glance-api")
    assert second != first
    failures = sh("crm_mon", "-1", "--failcounts", check=False).stdout
    assert "p_glance-api" in failures

    sh("crm", "resource", "stop", "cl_glance-api")
    wait_for(lambda: not processes_under(str(stack.glance_conf)), 60, "glance-api to stop")
