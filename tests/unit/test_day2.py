"""Day-2 tools' pure logic: the audit's decision per file, its report and table, the status
parser (why a node is kept out, what keeps the VIPs away), the events log's parser and merge, the
CLI's usage errors, the lab's store mounts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ansible_collections.glance_ha.ha.plugins.module_utils import audit, events, status
from ansible_collections.glance_ha.ha.plugins.modules import store_audit
from glance_ha import cli
from glance_ha_lab import config

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {"size": 4, "hash_algo": "sha512", "hash_value": "abc", "checksum": "m"}
GOOD = {"exists": True, "size": 4, "readable": True, "hash": "abc", "parent_writable": True}


@pytest.mark.parametrize("facts, state", [
    (GOOD, "ok"),
    ({"exists": False, "stat_error": "ENOENT"}, "missing"),
    ({"exists": None, "stat_error": "EACCES"}, "cannot-delete"),
    (dict(GOOD, readable=False, read_error="EACCES"), "no-access"),
    (dict(GOOD, size=3), "corrupt"),
    (dict(GOOD, hash="abd"), "corrupt"),
    (dict(GOOD, parent_writable=False), "cannot-delete"),
    # wrong bytes matter more than a delete that would fail
    (dict(GOOD, hash="abd", parent_writable=False), "corrupt"),
    # size-only verification: no hash read, sizes equal
    ({k: v for k, v in GOOD.items() if k != "hash"}, "ok"),
])
def test_classify_one_file(facts, state):
    assert store_audit.classify(EXPECTED, facts)[0] == state


def test_classify_uses_md5_without_os_hash():
    expected = {"size": 4, "hash_algo": "", "hash_value": "", "checksum": "m"}
    assert store_audit.classify(expected, dict(GOOD, hash="m"))[0] == "ok"
    assert store_audit.classify(expected, dict(GOOD, hash="x")) == ("corrupt", "md5 differs from Glance's record")


def test_probe_as_current_user_reads_real_files(tmp_path):
    import getpass
    import hashlib
    f = tmp_path / "img"
    f.write_bytes(b"data")
    files = [{"key": "a", "path": str(f), "verify": "checksum", "hash_algo": "sha512", "hash_value": ""},
             {"key": "b", "path": str(tmp_path / "gone"), "verify": "checksum"}]
    facts = store_audit.probe_as(getpass.getuser(), files)
    assert facts["a"]["hash"] == hashlib.sha512(b"data").hexdigest() and facts["a"]["size"] == 4
    assert facts["b"]["exists"] is False


IMAGES = [
    {"id": "i1", "name": "one", "status": "active", "size": 4, "checksum": "m", "os_hash_algo": "sha512",
     "os_hash_value": "abc", "stores": "fast,bulk"},
    {"id": "i2", "name": "two", "status": "active", "size": 4, "checksum": "m"},
    {"id": "i3", "name": "queued", "status": "queued"},
]


def test_copies_one_per_image_and_store():
    files = audit.copies(IMAGES, {"shared": "/var/lib/glance/images", "fast": "/f", "bulk": "/b"}, "shared")
    assert [(f["image"], f["store"], f["path"]) for f in files] == [
        ("i1", "fast", "/f/i1"), ("i1", "bulk", "/b/i1"), ("i2", "shared", "/var/lib/glance/images/i2")]


def test_report_offline_column_and_summary():
    files = audit.copies(IMAGES, {"shared": "/s", "fast": "/f", "bulk": "/b"}, "shared")
    ok = {"api": "200", "cells": {f["key"]: {"state": "ok", "detail": ""} for f in files}}
    missing = json.loads(json.dumps(ok))
    missing["cells"]["i2:shared"] = {"state": "missing", "detail": "no such file"}
    report = audit.build_report(files, ["g1", "g2", "g3"],
                                {"g1": ok, "g2": missing, "g3": {"unreachable": True, "msg": "timed out"}})
    assert not report["ok"]
    assert report["counts"] == {"ok": 5, "missing": 1, "no-access": 0, "cannot-delete": 0, "corrupt": 0,
                                "offline": 3}
    assert report["summary"] == "audit: 2 images, 3 copies x 3 hosts = 9 cells: 5 ok, 1 missing, 3 offline"
    table = audit.render_table(report)
    assert table.splitlines()[0].split() == ["IMAGE", "NAME", "STORE", "g1", "g2", "g3"]
    assert "  g3: shared i2: offline: host: timed out" in table


def test_report_all_ok():
    files = audit.copies(IMAGES[1:2], {"shared": "/s"}, "shared")
    report = audit.build_report(files, ["g1"], {"g1": {"api": "200", "cells": {"i2:shared": {"state": "ok"}}}})
    assert report["ok"] and report["summary"].endswith("1 cells: 1 ok")


CRM_MON = """<pacemaker-result><summary><current_dc name="g2" with_quorum="true"/></summary>
<nodes><node name="g1" online="true" standby="true" is_dc="false"/><node name="g2" online="true" is_dc="true"/>
<node name="g3" online="false"/></nodes>
<resources><clone id="cl_glance-api"><resource id="p_glance-api" resource_agent="ocf:openstack:glance-api"
 role="Started" active="true" failed="false"><node name="g2"/></resource></clone>
<resource id="p_vip_internal" resource_agent="ocf:heartbeat:IPaddr2" role="Started"
 active="true"><node name="g2"/></resource>
<resource id="p_vip_public" resource_agent="ocf:heartbeat:IPaddr2" role="Stopped" active="false"/></resources>
<node_history><node name="g2"><resource_history id="p_glance-api" fail-count="2">
<operation_history task="start" rc="0" rc_text="ok"/>
<operation_history task="monitor" interval="5000ms" rc="0" rc_text="ok"/></resource_history></node></node_history>
</pacemaker-result>"""


def test_parse_crm_mon():
    c = status.parse_crm_mon(CRM_MON)
    assert [(n["name"], n["state"], n["dc"]) for n in c["nodes"]] == [
        ("g1", "standby", False), ("g2", "online", True), ("g3", "offline", False)]
    assert c["quorum"] and c["vips"] == {"p_vip_internal": ["g2"], "p_vip_public": []}
    assert c["instances"]["g2"] == {"role": "Started", "failed": False, "fail_count": 2, "monitor": "ok (rc 0)",
                                    "kept_out": "", "drained": False, "links_down": [], "vips_avoid": []}
    assert c["instances"]["g1"]["role"] == "Stopped" and c["instances"]["g1"]["kept_out"] == "node standby"
    report = status.build(c, [], {"ok": True, "summary": "audit: ok"},
                          {"p_vip_internal": "1.2.3.4", "p_vip_public": "5.6.7.8"})
    assert not report["healthy"]  # the public VIP runs nowhere
    assert "vip:    p_vip_public 5.6.7.8 on NOBODY" in status.render(report)


# crm_mon -1 --output-as=xml --include=all of Pacemaker 2.1.5 on fixtures/cib_kept_out.xml (a CIB
# file whose status has glance2's start failed with OCF_ERR_PERM and its exit reason, glance1
# drained, glance3's ping-public at 0): `CIB_file=... crm_mon ...` made it.
KEPT_OUT = (ROOT / "tests/unit/fixtures/crm_mon_kept_out.xml").read_text()
# The same with the values Pacemaker 3.0 writes (Done, OK, Insufficient privileges): the report
# must read the same on both.
KEPT_OUT_3_0 = (ROOT / "tests/unit/fixtures/crm_mon_kept_out_3.0.xml").read_text()
SETTINGS = {"drain_attribute": "glance-api-drained", "link_attributes": ["ping-public", "ping-gateway"],
            "failure_timeout": "120s"}
KEPT_OUT_LINE = ('glance-api on glance2: Stopped, kept out: start failed (rc 4 OCF_ERR_PERM): parameter '
                 'config=/etc/glance/glance-api.conf: user "glance" cannot read it (Permission denied); back '
                 'after failure-timeout 120s or `crm resource cleanup cl_glance-api glance2`')


def check_kept_out(c: dict):
    g1, g2, g3 = (c["instances"][n] for n in ("glance1", "glance2", "glance3"))
    assert g2["role"] == "Stopped" and g2["fail_count"] == 1000000
    assert g2["kept_out"] == KEPT_OUT_LINE.split("kept out: ", 1)[1]
    assert (g1["drained"], g1["links_down"], g1["vips_avoid"]) == (True, [], ["drained (glance-api-drained=1)"])
    assert (g3["drained"], g3["links_down"], g3["vips_avoid"]) == (False, ["ping-public"],
                                                                   ["link down (ping-public=0)"])
    assert g1["kept_out"] == g3["kept_out"] == "" and g1["monitor"] == "ok (rc 0)"


@pytest.mark.parametrize("crm_mon_xml", [KEPT_OUT, KEPT_OUT_3_0], ids=["pacemaker-2.1", "pacemaker-3.0"])
def test_status_names_why_a_node_is_kept_out_and_what_keeps_the_vips_away(crm_mon_xml):
    c = status.parse_crm_mon(crm_mon_xml, SETTINGS)
    check_kept_out(c)
    report = status.build(c, [], {"ok": True, "summary": "audit: ok"}, {"p_vip_internal": "198.51.100.100"})
    assert not report["healthy"]
    lines = status.render(report).splitlines()
    assert KEPT_OUT_LINE in lines
    assert ("glance-api on glance1: Started, last monitor ok (rc 0), fail count 0; "
            "VIPs avoid it: drained (glance-api-drained=1)") in lines
    assert ("glance-api on glance3: Started, last monitor ok (rc 0), fail count 0; "
            "VIPs avoid it: link down (ping-public=0)") in lines


@pytest.mark.skipif(shutil.which("crm_mon") is None, reason="pacemaker (crm_mon) not installed")
def test_status_parses_what_this_machines_crm_mon_says_of_the_fixture_cib():
    proc = subprocess.run(["crm_mon", "-1", "--output-as=xml", "--include=all"], capture_output=True,
                          text=True, timeout=60, check=True,
                          env=dict(os.environ, CIB_file=str(ROOT / "tests/unit/fixtures/cib_kept_out.xml")))
    check_kept_out(status.parse_crm_mon(proc.stdout, SETTINGS))


@pytest.mark.parametrize("attributes, what", [
    ('status="complete" exitcode="1" exitstatus="error"', "monitor failed (rc 1 OCF_ERR_GENERIC)"),
    ('status="Done" exitcode="1" exitstatus="Error"', "monitor failed (rc 1 OCF_ERR_GENERIC)"),
    ('status="Timed Out" exitcode="1" exitstatus="error"', "monitor timed out"),
    ('status="Timed out" exitcode="1" exitstatus="Error"', "monitor timed out"),
    ('status="NOT SUPPORTED" exitcode="3"', "monitor failed (not supported)"),
    ('exitcode="3" exitstatus="Unimplemented feature"', "monitor failed (unimplemented feature)"),
], ids=["2.1-complete", "3.0-done", "2.1-timed-out", "3.0-timed-out", "other-status", "no-status"])
def test_a_failure_reads_the_same_on_pacemaker_2_1_and_3_0(attributes, what):
    failure = status.parse_failure(ET.fromstring(
        f'<failure op_key="p_glance-api_monitor_5000" node="glance1" {attributes} exitreason="none" '
        'task="monitor"/>'))
    assert failure["what"] == what
    assert failure["text"] == f"p_glance-api_monitor_5000 on glance1: {what}"


def test_without_the_roles_settings_no_attribute_is_judged():
    c = status.parse_crm_mon(KEPT_OUT)
    assert not any(i["vips_avoid"] for i in c["instances"].values())
    assert c["instances"]["glance2"]["kept_out"].endswith("back after `crm resource cleanup cl_glance-api glance2`")


def event(time, kind="node", node="glance2", what="node lost", recorder="glance1", **more):
    return json.dumps(dict({"time": time, "kind": kind, "node": node, "level": "warning", "what": what,
                            "reason": "", "recorder": recorder}, **more))


def test_parse_events_skips_what_is_not_an_event():
    text = "\n".join([event("2024-06-01T10:00:00.000001Z"), "not json", '{"time": "yesterday", "kind": "node"}',
                      '{"kind": "node"}', "", event("2024-06-01T10:00:01.000000Z", what="node member"),
                      '{"time": "2024-06-01T10:00:02.0Z", "kind": "node", "no'])  # torn last line
    assert [e["what"] for e in events.parse_events(text)] == ["node lost", "node member"]


def test_merge_events_of_every_node_newest_last_one_line_per_event():
    glance1 = "\n".join([event("2024-06-01T10:00:00.100000Z"),
                         event("2024-06-01T10:00:03.000000Z", kind="fencing", what="fenced (reboot)",
                               reason="Operation reboot of glance2 by glance1: OK", task="reboot", rc=0)])
    glance3 = "\n".join([event("2024-06-01T10:00:00.300000Z", recorder="glance3"),
                         event("2024-06-01T10:00:03.000200Z", kind="fencing", what="fenced (reboot)",
                               reason="Operation reboot of glance2 by glance1: OK", task="reboot", rc=0,
                               recorder="glance3"),
                         event("2024-06-01T09:00:00.000000Z", kind="resource", node="glance3",
                               what="start ok", recorder="glance3", rsc="p_glance-api", task="start"),
                         event("2024-06-01T10:05:00.000000Z", what="node member", recorder="glance3")])
    merged = events.merge_events([glance1, glance3, ""])
    assert [(e["what"], e["recorders"]) for e in merged] == [
        ("start ok", ["glance3"]), ("node lost", ["glance1", "glance3"]),
        ("fenced (reboot)", ["glance1", "glance3"]), ("node member", ["glance3"])]
    assert [e["what"] for e in events.merge_events([glance1, glance3], limit=2)] == ["fenced (reboot)", "node member"]
    report = status.build(None, [], None, {}, merged)
    lines = [line for line in status.render(report).splitlines() if line.startswith("event:")]
    assert lines == [
        "event:  2024-06-01 09:00:00.000Z glance3 p_glance-api: start ok",
        "event:  2024-06-01 10:00:00.100Z glance2: node lost (seen by glance1, glance3)",
        "event:  2024-06-01 10:00:03.000Z glance2: fenced (reboot): Operation reboot of glance2 by glance1: OK "
        "(seen by glance1, glance3)",
        "event:  2024-06-01 10:05:00.000Z glance2: node member"]
    assert json.loads(json.dumps(report))["events"] == merged  # --json carries them


def test_find_events_is_what_the_fault_suite_asserts_with():
    import datetime as dt
    text = "\n".join([event("2024-06-01T10:00:00.000000Z"),
                      event("2024-06-01T10:00:05.000000Z", kind="resource", what="start failed (rc 4 OCF_ERR_PERM)",
                            rsc="p_glance-api", task="start", rc=4)])
    assert len(events.find_events(text, kind="node", node="glance2")) == 1
    assert events.find_events(text, kind="node", node="glance3") == []
    assert [e["rc"] for e in events.find_events(text, what="start failed", rsc="p_glance-api", rc=4)] == [4]
    since = dt.datetime(2024, 6, 1, 10, 0, 1, tzinfo=dt.UTC)
    assert [e["kind"] for e in events.find_events(text, since=since)] == ["resource"]
    assert len(events.find_events(text, since=since.timestamp() - 1)) == 2
    assert len(events.find_events(text, since="2024-06-01T10:00:05Z")) == 1


def test_status_playbook_reads_each_nodes_events_and_the_roles_names(tmp_path):
    """ansible/playbooks/status.yml's glance play (on local files) and the arguments its report task gets."""
    import yaml

    from ansible_run import INVENTORIES, run_playbook
    plays = yaml.safe_load((ROOT / "ansible" / "playbooks" / "status.yml").read_text())
    gather = next(p for p in plays if p.get("hosts") == "glance")
    report = next(p for p in plays if p.get("hosts") == "localhost")
    args = report["tasks"][0]["glance_ha.ha.status_report"]
    for host in ("glance1", "glance2"):
        (tmp_path / f"{host}.log").write_text(event("2024-06-01T10:00:00.000000Z", recorder=host) + "\n")
    (tmp_path / "glance1.log.1").write_text(event("2024-06-01T09:00:00.000000Z", what="node member") + "\n")
    out = tmp_path / "args.json"
    playbook = tmp_path / "status.yml"
    playbook.write_text(yaml.safe_dump([
        dict(gather, connection="local", vars={
            "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "ha_resources_alert_log": str(tmp_path / "{{ inventory_hostname }}.log"),
            "ha_resources_ping_checks": [{"name": "public", "hosts": ["203.0.113.1"], "vips": ["public"]}]}),
        dict(report, tasks=[{"name": "Write the report's arguments", "ansible.builtin.copy": {
            "content": "{{ {'settings': %s, 'events': %s} | to_json }}" % tuple(
                args[k].strip("{} ") for k in ("settings", "events")),
            "dest": str(out), "mode": "0600"}}])]))
    run_playbook(playbook, INVENTORIES["lab"], tmp_path)
    got = json.loads(out.read_text())
    assert got["settings"] == {"drain_attribute": "glance-api-drained", "link_attributes": ["ping-public"],
                               "failure_timeout": "120s"}
    assert sorted(got["events"]) == ["glance1", "glance2", "glance3"] and got["events"]["glance3"] == []
    assert [e["what"] for e in events.parse_events(got["events"]["glance1"])] == ["node member", "node lost"]
    # glance2's one line stays a line (a one-line text would have become a dict in the templating)
    assert [(e["what"], e["recorders"]) for e in events.merge_events(got["events"].values())] == [
        ("node member", ["glance1"]), ("node lost", ["glance1", "glance2"])]


@pytest.mark.parametrize("argv, message", [
    (["audit", "--bogus"], "unrecognized arguments: --bogus"),
    (["maintenance", "glance1", "--action", "dance"], "argument --action: invalid choice: 'dance'"),
    (["maintenance", "glance1", "--drain-only", "--return-only"], "not allowed with argument"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["-i", "/nonexistent/inv", "audit"], "inventory /nonexistent/inv does not exist"),
])
def test_cli_usage_errors(argv, message, capsys, monkeypatch):
    monkeypatch.setenv("GLANCE_HA_INVENTORY", str(ROOT / "inventory" / "lab"))
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_needs_an_inventory(capsys, monkeypatch):
    """No -i and no $GLANCE_HA_INVENTORY: one line that says so, before any playbook runs."""
    monkeypatch.delenv("GLANCE_HA_INVENTORY", raising=False)
    with pytest.raises(SystemExit) as e:
        cli.main(["status"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "glance-ha: error: no inventory: pass -i INVENTORY or set GLANCE_HA_INVENTORY"


def test_lab_store_mounts_come_from_the_inventory(tmp_path):
    assert config.store_mounts()["images"] == "/var/lib/glance/images"
    assert set(config.store_mounts().values()) == {"/var/lib/glance/images", "/var/lib/glance/fast",
                                                "/var/lib/glance/bulk"}
    gv = tmp_path / "glance.yml"
    gv.write_text("cluster_token: 1\n")
    assert config.store_mounts(gv) == {"images": "/var/lib/glance/images"}
    gv.write_text("glance_api_stores: [{name: a, path: /x/s}, {name: b, path: /y/s}]\n")
    with pytest.raises(config.LabError, match="distinct names"):
        config.store_mounts(gv)
