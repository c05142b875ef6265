"""Real Pacemaker fencing of a lab host through fence_lab: `stonith_admin --reboot glance2`.

On the glance hosts' cluster. If no cluster runs there yet (the deployment has not configured
one), the test makes a minimal one (knet, the glance hosts, token 1000) and removes it after;
if the cluster has no fence_lab device yet, the test adds the one the cluster role is to
configure (FENCE_DEVICE below) and removes it after. An existing cluster and device are used
as they are."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from fence_helpers import bmc_actions_since, bmc_log_size, install_agent, ssh, wait_for
from glance_ha_lab import bmc, cgroups, config

pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_up")]

GLANCE = [h for h in config.load_hosts() if h.is_glance]
NAMES = [h.name for h in GLANCE]
VICTIM = "glance2"
FENCER = "glance1"
DEVICE_ID = "fence-lab"
# The lab's stonith device: one primitive for every glance host (plug = node name), secret in
# the agent's default key file, nothing secret in the CIB.
FENCE_DEVICE = (f'primitive {DEVICE_ID} stonith:fence_lab '
                f'params ip={bmc.BMC_ADDRESS} ipport={bmc.BMC_PORT} pcmk_host_list="{" ".join(NAMES)}" '
                f'op monitor interval=60s timeout=20s')


def corosync_conf() -> str:
    nodes = "".join(f"    node {{\n        ring0_addr: {h.internal}\n        name: {h.name}\n"
                    f"        nodeid: {i}\n    }}\n" for i, h in enumerate(GLANCE, 1))
    return ("# minimal cluster of tests/fence/test_lab_stonith.py (removed after the test)\n"
            "totem {\n    version: 2\n    cluster_name: glance-ha-fence-test\n    transport: knet\n"
            "    token: 1000\n    crypto_cipher: none\n    crypto_hash: none\n}\n"
            f"nodelist {{\n{nodes}}}\n"
            "quorum {\n    provider: corosync_votequorum\n}\n"
            "logging {\n    to_syslog: yes\n    to_stderr: no\n    timestamp: on\n}\n")


def crm_mon(via: str = FENCER) -> ET.Element:
    return ET.fromstring(ssh(via, "crm_mon -1 --output-as=xml", timeout=20).stdout)


def online(via: str = FENCER) -> list[str]:
    try:
        mon = crm_mon(via)
    except (AssertionError, ET.ParseError):
        return []
    # a node still booting answers without a DC (or without a summary at all): not yet
    dc = mon.find("summary/current_dc")
    if dc is None or dc.get("present") != "true":
        return []
    return sorted(n.get("name", "") for n in mon.iter("node") if n.get("online") == "true")


def device_started(device: str, via: str = FENCER) -> bool:
    try:
        mon = crm_mon(via)
    except (AssertionError, ET.ParseError):
        return False
    return any(r.get("id") == device and r.get("role") == "Started" and r.get("active") == "true"
               for r in mon.iter("resource"))


def fence_lab_devices() -> list[str]:
    cib = ET.fromstring(ssh(FENCER, "cibadmin -Q -o resources").stdout)
    return [p.get("id", "") for p in cib.iter("primitive")
            if p.get("class") == "stonith" and p.get("type") == "fence_lab"]


def property_value(name: str) -> str | None:
    r = ssh(FENCER, f"crm_attribute -t crm_config -n {name} -G -q", check=False)
    return r.stdout.strip() if r.returncode == 0 else None


@pytest.fixture(scope="module")
def cluster(request):
    """The id of a started fence_lab device on a healthy cluster of the glance hosts."""
    for name in NAMES:
        install_agent(name)
    made_cluster = ssh(FENCER, "systemctl is-active --quiet corosync", check=False).returncode != 0
    if made_cluster:
        request.addfinalizer(remove_test_cluster)  # registered first: runs last, even if setup fails
        for name in NAMES:
            ssh(name, "cat > /etc/corosync/corosync.conf", input=corosync_conf())
        for name in NAMES:
            # enabled: a fenced host's cluster stack comes back with it
            ssh(name, "systemctl enable --quiet corosync pacemaker && systemctl start --no-block corosync pacemaker")
    # a first DC election waits for dc-deadtime (20 s by default)
    wait_for(lambda: online() == NAMES, timeout=120, step=1, what=f"{NAMES} online with a DC")
    if made_cluster:
        ssh(FENCER, "crm configure property stonith-enabled=true dc-deadtime=5s")
    else:
        old_stonith = property_value("stonith-enabled")
        if old_stonith not in (None, "true"):
            request.addfinalizer(lambda: ssh(FENCER, f"crm configure property stonith-enabled={old_stonith}",
                                             check=False))
            ssh(FENCER, "crm configure property stonith-enabled=true")
    if not fence_lab_devices():
        request.addfinalizer(lambda: ssh(FENCER, f"crm resource stop {DEVICE_ID}; "
                                                 f"crm configure delete --force {DEVICE_ID}", check=False))
        ssh(FENCER, f"crm configure {FENCE_DEVICE}")
    device = fence_lab_devices()[0]
    wait_for(lambda: device_started(device), timeout=60, step=1, what=f"{device} started")
    # every node knows a device that can fence the victim
    for name in NAMES:
        wait_for(lambda name=name: device in ssh(name, f"stonith_admin --list {VICTIM}", check=False).stdout,
                 timeout=60, step=1, what=f"{name}: {device} registered for {VICTIM}")
    return device


def remove_test_cluster() -> None:
    for name in NAMES:
        ssh(name, "systemctl disable --quiet --now pacemaker corosync; "
                  "rm -f /etc/corosync/corosync.conf /var/lib/pacemaker/cib/*", check=False, timeout=120)


def test_agent_metadata_through_pacemaker(cluster):
    meta = ET.fromstring(ssh(FENCER, "stonith_admin --metadata --agent fence_lab").stdout)
    assert meta.get("name") == "fence_lab"
    cib = ssh(FENCER, "cibadmin -Q").stdout
    assert bmc.secret_path().read_text().strip() not in cib, "the BMC secret is in the CIB"


def test_stonith_admin_reboot_fences_and_the_node_rejoins(cluster, capsys):
    host = config.host_by_name(VICTIM)
    old_pids, log_at = cgroups.host_pids(host), bmc_log_size()
    assert old_pids and online() == NAMES

    # timed on the fencing node itself: no ssh in the figure
    r = ssh(FENCER, f"s=$(date +%s%N); stonith_admin --reboot {VICTIM} --timeout 60; rc=$?; "
                    f"echo fence_ns=$(( $(date +%s%N) - s )); exit $rc", timeout=90, check=False)
    t_fenced = time.monotonic()
    assert r.returncode == 0, f"stonith_admin --reboot {VICTIM}: {r.stderr.strip()} {r.stdout.strip()}"
    fence_s = int(r.stdout.split("fence_ns=")[1].split()[0]) / 1e9

    # really a power cycle through the lab BMC: every old process gone
    assert not old_pids & cgroups.host_pids(host), "processes of the fenced host survived"
    assert bmc_actions_since(log_at, VICTIM) == ["off", "on"]
    history = ssh(FENCER, f"stonith_admin --history {VICTIM}").stdout
    assert f"reboot of {VICTIM} successful" in history, history

    # back when its new pacemaker (every old process is gone) sees the whole cluster with a DC,
    # and so do the others
    wait_for(lambda: online(via=VICTIM) == NAMES and online() == NAMES, timeout=120, step=0.5,
             what=f"{VICTIM} back in the cluster")
    rejoin_s = time.monotonic() - t_fenced
    wait_for(lambda: device_started(cluster), timeout=60, step=1, what=f"{cluster} started")
    with capsys.disabled():
        print(f"\nstonith_admin --reboot {VICTIM}: fenced in {fence_s:.2f} s (on {FENCER}); "
              f"{VICTIM} online in the cluster again {rejoin_s:.1f} s later")
    assert fence_s < 15
