"""Day-2 tools' pure logic: the audit's decision per file, its report and table, the status
parser, the CLI's usage errors, the lab's store mounts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from glance_ha import audit, cli, lab, status

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("glance_ha_store_audit",
                                              ROOT / "ansible/library/glance_ha_store_audit.py")
store_audit = importlib.util.module_from_spec(spec)
spec.loader.exec_module(store_audit)

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
<resource id="p_vip_internal" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true"><node name="g2"/></resource>
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
    assert c["instances"]["g2"] == {"role": "Started", "failed": False, "fail_count": 2, "monitor": "ok (rc 0)"}
    assert c["instances"]["g1"]["role"] == "Stopped"
    report = status.build(c, [], {"ok": True, "summary": "audit: ok"},
                          {"p_vip_internal": "1.2.3.4", "p_vip_public": "5.6.7.8"})
    assert not report["healthy"]  # the public VIP runs nowhere
    assert "vip:    p_vip_public 5.6.7.8 on NOBODY" in status.render(report)


@pytest.mark.parametrize("argv, message", [
    (["audit", "--bogus"], "unrecognized arguments: --bogus"),
    (["maintenance", "glance1", "--action", "dance"], "argument --action: invalid choice: 'dance'"),
    (["maintenance", "glance1", "--drain-only", "--return-only"], "not allowed with argument"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["-i", "/nonexistent/inv", "audit"], "inventory /nonexistent/inv does not exist"),
])
def test_cli_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_lab_store_mounts_come_from_the_inventory(tmp_path):
    assert lab.store_mounts()["images"] == "/var/lib/glance/images"
    assert set(lab.store_mounts().values()) == {"/var/lib/glance/images", "/var/lib/glance/fast",
                                                "/var/lib/glance/bulk"}
    gv = tmp_path / "glance.yml"
    gv.write_text("cluster_token: 1\n")
    assert lab.store_mounts(gv) == {"images": "/var/lib/glance/images"}
    gv.write_text("glance_api_stores: [{name: a, path: /x/s}, {name: b, path: /y/s}]\n")
    with pytest.raises(lab.LabError, match="distinct names"):
        lab.store_mounts(gv)
