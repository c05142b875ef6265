"""fence_lab against the lab's real BMC: lab hosts really go off (every process gone, network
namespace gone, ssh down) and come back on (ssh back).

Power-cycles glance3 only; the lab is the one GLANCE_HA_LAB_PREFIX / GLANCE_HA_LAB_DIR name."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from fence_helpers import (
    KEY_FILE_ON_HOSTS,
    bmc_actions_since,
    bmc_log_size,
    install_agent,
    lab_key_file,
    netns_exists,
    on_controller_ns,
    run_agent,
    ssh,
    wait_for,
)
from glance_ha_lab import bmc, cgroups, config

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_up")]
VICTIM = "glance3"


def agent(*args: str, key: str | None = None) -> subprocess.CompletedProcess:
    """The agent from the controller's namespace, as an operator on the lab network runs it."""
    return run_agent("-a", bmc.BMC_ADDRESS, f"--key-file={key or lab_key_file()}", *args,
                     prefix=on_controller_ns())


def alive(pid: int) -> bool:
    """Exists and is not a zombie (a dead process whose parent has not collected it yet)."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def ssh_up(host: str) -> bool:
    return ssh(host, "true", timeout=15, check=False).returncode == 0


def test_bmc_runs_in_its_own_lab_namespace():
    pid = bmc.running_pid()
    assert pid, f"no BMC running for lab {config.PREFIX} ({bmc.pid_path()})"
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{bmc.bmc_netns()}").st_ino
    assert os.stat(f"/proc/{pid}/ns/net").st_ino != os.stat("/proc/self/ns/net").st_ino
    own = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout)
    assert bmc.BMC_ADDRESS not in {a["local"] for i in own for a in i.get("addr_info", [])}
    assert oct(bmc.secret_path().stat().st_mode & 0o777) == "0o600"


def test_status_and_list_over_the_lab_network():
    r = agent("-o", "list-status")
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split()) == sorted(f"{h.name},{h.name},ON" for h in config.load_hosts())
    r = agent("-o", "status", "-n", VICTIM)
    assert (r.returncode, r.stdout.strip()) == (0, "Status: ON"), r.stderr


def test_lab_bmc_refuses_a_wrong_secret(tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_text("0" * 64 + "\n")
    log_at = bmc_log_size()
    r = agent("-o", "off", "-n", VICTIM, key=str(wrong))
    assert r.returncode == 1 and "authentication failed" in r.stderr
    assert cgroups.host_running(config.host_by_name(VICTIM)) and bmc_actions_since(log_at, VICTIM) == []


def test_off_kills_every_process_and_the_network_then_on_boots_again():
    host = config.host_by_name(VICTIM)
    old = cgroups.host_pids(host)
    assert old and ssh_up(VICTIM)

    t0 = time.monotonic()
    r = agent("-o", "off", "-n", VICTIM)
    off_s = time.monotonic() - t0
    assert (r.returncode, r.stdout.strip()) == (0, "Success: Powered OFF"), r.stderr
    try:
        assert cgroups.host_pids(host) == set()
        assert [p for p in old if alive(p)] == [], "processes of the host survived"
        assert not netns_exists(VICTIM), "the host's network namespace outlived it"
        assert not ssh_up(VICTIM)
        r = agent("-o", "status", "-n", VICTIM)
        assert (r.returncode, r.stdout.strip()) == (2, "Status: OFF")
    finally:
        t1 = time.monotonic()
        r = agent("-o", "on", "-n", VICTIM)
        assert (r.returncode, r.stdout.strip()) == (0, "Success: Powered ON"), r.stderr
        wait_for(lambda: ssh_up(VICTIM), timeout=90, step=0.5, what=f"ssh to {VICTIM} after power on")
        on_s = time.monotonic() - t1
    assert not old & cgroups.host_pids(host)
    print(f"\n{VICTIM}: off in {off_s:.2f} s (agent run), ssh back {on_s:.1f} s after on")


def test_reboot_from_a_lab_host_with_the_installed_agent():
    """As Pacemaker will: the agent installed on glance1 (key in its default file), run there."""
    install_agent("glance1")
    mode = ssh("glance1", f"stat -c '%a %U' /usr/sbin/fence_lab {KEY_FILE_ON_HOSTS}").stdout.split()
    assert mode == ["755", "root", "400", "root"]
    r = ssh("glance1", f"fence_lab -o status -a {bmc.BMC_ADDRESS} -n {VICTIM}")
    assert r.stdout.strip() == "Status: ON"

    host = config.host_by_name(VICTIM)
    old_pids, log_at = cgroups.host_pids(host), bmc_log_size()
    # options on stdin, as pacemaker-fenced passes them
    r = ssh("glance1", "fence_lab", input=f"action=reboot\nip={bmc.BMC_ADDRESS}\nplug={VICTIM}\n")
    assert r.stdout.strip() == "Success: Rebooted"
    assert bmc_actions_since(log_at, VICTIM) == ["off", "on"]
    assert not old_pids & cgroups.host_pids(host), "processes of the host survived its reboot"
    # it boots once it has been off for the BMC's minimum off time
    wait_for(lambda: ssh_up(VICTIM), timeout=90, step=0.5, what=f"ssh to {VICTIM} after reboot")
    assert not old_pids & cgroups.host_pids(host)
