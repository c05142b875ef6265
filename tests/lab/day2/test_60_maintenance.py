"""Maintenance and rolling upgrade with a client polling the VIP: zero failed requests (each
request retried once, as keystoneauth clients do), no fail count, the schema steps once, in order."""

from __future__ import annotations

import hashlib
import re
import time

from ansible_collections.glance_ha.ha.plugins.module_utils import names
from glance_ha_lab import labclient, vipclient

from .conftest import glance_api_nodes, glance_ha, on

GLANCE_HOSTS = ["glance1", "glance2", "glance3"]


def fail_counts() -> dict[str, str]:
    out = {}
    for host in GLANCE_HOSTS:
        r = on(host, f"crm_failcount --query --resource {names.GLANCE_PRIMITIVE} --node {host}")
        value = re.search(r"value=(\S+)", r)
        assert value, r
        out[host] = value.group(1)
    return out


def polled(glance, inventory_vars, conn, run):
    data = labclient.generated_image(size=256 << 10, seed=b"maintenance")
    image_id = glance.upload("day2-maintenance", data)
    client = vipclient.VipClient(inventory_vars["glance_ha_internal_vip"], conn.session.get_token(),
                                 image_id=image_id, sha256=hashlib.sha256(data).hexdigest(), retries=1)
    client.start()
    time.sleep(2)
    t0 = time.monotonic()
    result = run()
    report = client.stop(t0)
    return result, report, time.monotonic() - t0


def test_drain_and_return_the_vip_holder(glance, inventory_vars, conn):
    holder = labclient.cluster_state().active[names.VIP_RESOURCES["internal"]][0]
    before = fail_counts()  # earlier suites' crashes may still count: the drain must add none
    r, report, took = polled(glance, inventory_vars, conn, lambda: glance_ha("maintenance", holder))
    print(f"\nmaintenance of {holder} (VIP holder) in {took:.1f} s: {report.summary()}")
    assert r.returncode == 0, r.stdout[-3000:]
    # the healthcheck is disabled first; the VIPs leave (drained); then standby
    order = [r.stdout.index(f"TASK [{t}") for t in ("Disable the healthcheck", "Wait until no VIP runs on the host",
                                                    "Put the node in standby", "Enable the healthcheck again")]
    assert order == sorted(order)
    assert report.failed_requests == 0, [a.error for a in report.attempts if not a.ok]
    assert report.gap() <= 3.0, report.summary()  # one VIP move at most, never a client timeout
    assert len(report.attempts) > 20
    state = labclient.cluster_state()
    assert holder not in state.active[names.VIP_RESOURCES["internal"]]  # moved once, stickiness keeps it away
    assert glance_api_nodes() == GLANCE_HOSTS
    assert fail_counts() == before
    assert "healthcheck_disable" not in on(holder, "ls /etc/glance")


def fence_events(host: str) -> int:
    other = next(h for h in GLANCE_HOSTS if h != host)
    return on(other, f"stonith_admin --history {host} --output-as=xml").count("<fence_event ")


def test_maintenance_with_a_reboot(glance, inventory_vars, conn):
    holder = labclient.cluster_state().active[names.VIP_RESOURCES["internal"]][0]
    boot_id = on(holder, "cat /proc/sys/kernel/random/boot_id").strip()
    before, fenced_before = fail_counts(), fence_events(holder)
    r, report, took = polled(glance, inventory_vars, conn,
                             lambda: glance_ha("maintenance", holder, "--action", "reboot"))
    print(f"\nmaintenance of {holder} (VIP holder) with a reboot in {took:.1f} s: {report.summary()}")
    assert r.returncode == 0, r.stdout[-3000:]
    assert on(holder, "cat /proc/sys/kernel/random/boot_id").strip() != boot_id  # it did reboot
    assert report.failed_requests == 0, [a.error for a in report.attempts if not a.ok]
    assert report.gap() <= 3.0, report.summary()  # one VIP move at most, never a client timeout
    assert glance_api_nodes() == GLANCE_HOSTS
    assert sorted(labclient.cluster_state().nodes_online) == GLANCE_HOSTS
    assert fence_events(holder) == fenced_before  # a planned reboot is a clean leave, not a fencing
    after = fail_counts()  # a reboot forgets the node's own counts: none may have grown
    assert all(int(after[h]) <= int(before[h]) for h in GLANCE_HOSTS if after[h].isdigit() and before[h].isdigit())
    assert after[holder] in ("0", before[holder])


def test_drain_only_keeps_the_host_out_then_return(glance, inventory_vars, conn):
    r = glance_ha("maintenance", "glance3", "--drain-only")
    assert r.returncode == 0, r.stdout[-3000:]
    try:
        assert "glance3" not in glance_api_nodes()
        assert on("glance3", "crm_attribute --node glance3 --name standby --query").strip().endswith("value=on")
        assert on("glance3", "cat /etc/glance/healthcheck_disable").startswith("glance-ha maintenance")
    finally:
        r = glance_ha("maintenance", "glance3", "--return-only")
    assert r.returncode == 0, r.stdout[-3000:]
    assert glance_api_nodes() == GLANCE_HOSTS


def test_rolling_upgrade_schema_steps_once_in_order(glance, inventory_vars, conn):
    before = fail_counts()
    r, report, took = polled(glance, inventory_vars, conn, lambda: glance_ha("rolling-upgrade"))
    print(f"\nrolling upgrade of {', '.join(GLANCE_HOSTS)} in {took:.1f} s: {report.summary()}")
    out = r.stdout
    assert r.returncode == 0, out[-3000:]
    steps = [m.group(0) for m in re.finditer(
        r"\(item=expand\)|\(item=migrate\)|TASK \[Put the node in standby[^\]]*\]|"
        r"TASK \[Run glance-manage db contract\]", out)]
    assert steps[0] == "(item=expand)" and steps[1] == "(item=migrate)"
    assert steps[-1] == "TASK [Run glance-manage db contract]"
    assert sum(s == "(item=expand)" for s in steps) == 1 and sum("contract" in s for s in steps) == 1
    assert sum(s.startswith("TASK [Put the node in standby") for s in steps) == len(GLANCE_HOSTS)
    assert report.failed_requests == 0, [a.error for a in report.attempts if not a.ok]
    assert report.gap() <= 3.0, report.summary()  # one VIP move at most, never a client timeout
    assert glance_api_nodes() == GLANCE_HOSTS
    assert fail_counts() == before
