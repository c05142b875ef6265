"""`glance-ha status` against the lab: what it says must be what the cluster and Keystone say,
healthy and with one node in standby."""

from __future__ import annotations

import json

from ansible_collections.glance_ha.ha.plugins.module_utils import names
from glance_ha_lab import labclient

from .conftest import glance_api_nodes, glance_ha, on, wait_for

GLANCE_HOSTS = ["glance1", "glance2", "glance3"]


def status() -> tuple[int, dict, str]:
    r = glance_ha("status", "--json")
    assert r.returncode in (0, 1), r.stderr
    text = glance_ha("status")
    assert text.returncode == r.returncode, text.stderr
    return r.returncode, json.loads(r.stdout), text.stdout


def test_status_of_the_healthy_lab(inventory_vars):
    rc, report, text = status()
    state = labclient.cluster_state()
    cluster = report["cluster"]
    assert rc == 0 and report["healthy"], text
    assert cluster["quorum"] is True
    assert {n["name"]: n["state"] for n in cluster["nodes"]} == {h: "online" for h in GLANCE_HOSTS}
    assert sum(n["dc"] for n in cluster["nodes"]) == 1
    # who holds each VIP: as Pacemaker and the hosts' own network namespaces say
    assert report["vip_addresses"] == {names.VIP_RESOURCES["internal"]: inventory_vars["glance_ha_internal_vip"],
                                       names.VIP_RESOURCES["public"]: inventory_vars["glance_ha_public_vip"]}
    for rid, ip in report["vip_addresses"].items():
        assert cluster["vips"][rid] == state.active[rid] == labclient.vip_holders_by_namespace(ip)
    for host in GLANCE_HOSTS:
        inst = cluster["instances"][host]
        assert inst["role"] == "Started" and not inst["failed"]
        assert inst["monitor"] == "ok (rc 0)"
    # the three image endpoints, each answering through its VIP
    assert sorted(e["interface"] for e in report["endpoints"]) == ["admin", "internal", "public"]
    assert all(e["answer"] == "300" for e in report["endpoints"]), report["endpoints"]
    assert report["audit"].startswith("audit: ")
    assert "status: healthy" in text and "NOBODY" not in text


def test_status_shows_a_node_in_standby_and_says_not_healthy(glance):
    glance.upload("day2-status", labclient.generated_image(size=64 << 10, seed=b"status"))
    holders = set(labclient.cluster_state().vip_holders().get(names.VIP_RESOURCES["internal"], []))
    node = next(h for h in reversed(GLANCE_HOSTS) if h not in holders)
    on(node, f"crm node standby {node}")
    try:
        wait_for(lambda: node not in glance_api_nodes(), timeout=60, step=0.5,
                 what=f"glance-api stopped on {node}")
        rc, report, text = status()
        cluster = report["cluster"]
        assert rc == 1 and not report["healthy"]
        assert {n["name"]: n["state"] for n in cluster["nodes"]}[node] == "standby"
        assert cluster["instances"][node]["role"] == "Stopped"
        # the service itself is still up: VIPs held, endpoints answer; the audit sees the gap
        assert all(cluster["vips"][rid] for rid in report["vip_addresses"])
        assert all(e["answer"] == "300" for e in report["endpoints"])
        assert "offline" in report["audit"]
        assert f"{node} standby" in text and "status: NOT healthy" in text
    finally:
        on(node, f"crm node online {node}")
    wait_for(lambda: glance_api_nodes() == GLANCE_HOSTS, timeout=60, step=0.5, what=f"glance-api back on {node}")
    wait_for(lambda: status()[0] == 0, timeout=60, step=2, what="status healthy again")
