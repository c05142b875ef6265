"""Every template, rendered from the lab and production example inventories, parsed and checked."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ansible_collections.glance_ha.ha.plugins.modules import cib as glance_ha_cib
from ansible_run import INVENTORIES, ROOT, VAULT_PLACEHOLDERS, render, render_all, run_playbook


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render_all(tmp_path_factory)


# the product's templates (templates/) and the lab controller's (lab/templates/)
TEMPLATES = sorted(p.name for d in (ROOT / "templates", ROOT / "lab" / "templates") for p in d.glob("*.j2"))
NODES = {
    "lab": {"glance1": "198.51.100.11", "glance2": "198.51.100.12", "glance3": "198.51.100.13"},
    "production": {"glance1": "10.20.0.11", "glance2": "10.20.0.12", "glance3": "10.20.0.13"},
}
VIPS = {"lab": ("198.51.100.100", "203.0.113.100"), "production": ("10.20.0.100", "10.30.0.100")}


def ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def lab_secret(rendered_dir: Path, name: str) -> str:
    return (rendered_dir.parent / "labdir" / "secrets" / name).read_text().strip()


def test_every_template_is_rendered_and_opens_with_ansible_managed(rendered):
    seen = set()
    for out in rendered.values():
        for path in out.glob("*/*"):
            seen.add(path.name + ".j2")
            assert path.read_text().startswith("# Managed by glance-ha (Ansible)"), path
    assert seen == set(TEMPLATES)


def test_templates_are_the_roles_templates():
    """One source: each role's templates/ entries are links into templates/ (the lab's role: into
    lab/templates/), and so are the agents the ha_resources role ships (into ocf/ and alerts/)."""
    for link in (ROOT / "ansible" / "roles").glob("*/templates/*"):
        assert link.is_symlink() and link.resolve().parent == ROOT / "templates", link
    for link in (ROOT / "lab" / "roles").glob("*/templates/*"):
        assert link.is_symlink() and link.resolve().parent == ROOT / "lab" / "templates", link
    files = ROOT / "ansible" / "roles" / "ha_resources" / "files"
    assert {p.name: p.resolve() for p in files.iterdir() if p.is_symlink()} == {
        "glance-api": ROOT / "ocf" / "glance-api", "glance-vip": ROOT / "ocf" / "glance-vip",
        "glance-ha-alert": ROOT / "alerts" / "glance-ha-alert"}


@pytest.mark.parametrize("inventory", ["lab", "production"])
def test_glance_api_conf(rendered, inventory):
    internal_vip, public_vip = VIPS[inventory]
    for node, address in NODES[inventory].items():
        conf = ini(rendered[inventory] / node / "glance-api.conf")
        default = conf["DEFAULT"]
        assert default["bind_host"] == "0.0.0.0"  # serves the VIPs the node holds
        assert default["bind_port"] == "9292"
        assert default["worker_self_reference_url"] == f"http://{address}:9292"
        assert default["public_endpoint"] == f"http://{public_vip}:9292"
        assert int(default["workers"]) >= 1
        assert conf["paste_deploy"]["flavor"] == "keystone"
        auth = conf["keystone_authtoken"]
        assert auth["username"] == "glance" and auth["project_name"] == "service"
        assert auth["auth_type"] == "password"
        backends = dict(b.split(":") for b in default["enabled_backends"].split(","))
        assert set(backends.values()) == {"file"}
        # sorted: glance lists an image's stores in this order, and Tempest compares them sorted
        assert list(backends) == sorted(backends)
        # secure RBAC by default; glance 25 refuses to start unless both switches agree
        assert conf["oslo_policy"]["enforce_new_defaults"] == conf["oslo_policy"]["enforce_scope"] == "true"
        assert default["enforce_secure_rbac"] == "true"
        assert conf["glance_store"]["default_backend"] in backends
        for store in backends:
            assert conf[store]["filesystem_store_datadir"].startswith("/")
        staging = conf["os_glance_staging_store"]["filesystem_store_datadir"]
        tasks = conf["os_glance_tasks_store"]["filesystem_store_datadir"]
        assert staging != tasks and staging not in {conf[s]["filesystem_store_datadir"] for s in backends}
        if inventory == "lab":
            assert backends == {"shared": "file", "fast": "file", "bulk": "file"}
            assert conf["glance_store"]["default_backend"] == "shared"
            assert conf["shared"]["filesystem_store_datadir"] == "/var/lib/glance/images"
            assert conf["fast"]["filesystem_store_datadir"] == "/var/lib/glance/fast"
            db = lab_secret(rendered["lab"], "glance_db")
            assert conf["database"]["connection"] == f"mysql+pymysql://glance:{db}@198.51.100.10/glance"
            assert auth["password"] == lab_secret(rendered["lab"], "glance_keystone")
            assert auth["auth_url"] == "http://198.51.100.10:5000/v3"
        else:
            assert backends == {"fast": "file", "bulk": "file"}
            assert conf["glance_store"]["default_backend"] == "fast"
            assert conf["database"]["connection"] == (
                "mysql+pymysql://glance:%s@db.example.net/glance"
                % VAULT_PLACEHOLDERS["vault_glance_ha_db_password"])
            assert auth["password"] == VAULT_PLACEHOLDERS["vault_glance_ha_service_password"]


def test_tempest_conf_reaches_the_lab_through_the_vips(rendered):
    conf = ini(rendered["lab"] / "controller" / "tempest.conf")
    assert conf["identity"]["uri_v3"] == "http://198.51.100.10:5000/v3"
    assert conf["image"]["endpoint_type"] == "publicURL"
    assert conf["auth"]["admin_password"] == lab_secret(rendered["lab"], "keystone_admin")
    # the web-download image comes from the controller's image server, on a port glance allows
    assert conf["image"]["http_image"] == "http://198.51.100.10/tempest-web-download.raw"
    unit = (rendered["lab"] / "controller" / "lab-images.service").read_text()
    assert "http.server 80 --bind 198.51.100.10 --directory /srv/lab-images" in unit
    # the plugin's RBAC tests run because glance enforces scope (glance_api_secure_rbac)
    assert conf["enforce_scope"]["glance"] == "true"
    assert conf["image-feature-enabled"]["import_image"] == "true"
    assert all(conf["service_available"][s] == "false" for s in ("nova", "cinder", "swift", "neutron"))


@pytest.mark.skipif(shutil.which("glance-api") is None, reason="glance-api package not installed")
@pytest.mark.parametrize("inventory", ["lab", "production"])
def test_glance_reads_its_conf_as_intended(rendered, inventory):
    """glance's own option definitions (system python3) parse the file."""
    out = subprocess.run(["/usr/bin/python3", str(Path(__file__).parent / "read_glance_api_conf.py"),
                          str(rendered[inventory] / "glance1" / "glance-api.conf")],
                         capture_output=True, text=True, check=True, timeout=120)
    values = json.loads(out.stdout)
    assert values["bind_host"] == "0.0.0.0"
    assert values["enabled_import_methods"] == ["glance-direct", "web-download", "copy-image"]
    assert values["worker_self_reference_url"] == f"http://{NODES[inventory]['glance1']}:9292"
    assert values["flavor"] == "keystone"
    assert values["default_backend"] in values["enabled_backends"]
    assert values["stores"]["os_glance_staging_store"] == "/var/lib/glance/staging"
    assert values["stores"]["os_glance_tasks_store"] == "/var/lib/glance/tasks_work_dir"


def parse_corosync(text: str) -> dict:
    """corosync.conf's nested `name { key: value }` format into dicts (repeated blocks: lists)."""
    root: dict = {}
    stack = [root]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.endswith("{"):
            block: dict = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(block)
            stack.append(block)
        elif line == "}":
            stack.pop()
        else:
            key, value = (part.strip() for part in line.split(":", 1))
            stack[-1][key] = value
    assert len(stack) == 1, "unbalanced braces"
    return root


@pytest.mark.parametrize("inventory", ["lab", "production"])
def test_corosync_conf(rendered, inventory):
    texts = {node: (rendered[inventory] / node / "corosync.conf").read_text()
             for node in NODES[inventory]}
    assert len(set(texts.values())) == 1, "every node must get the same corosync.conf"
    conf = parse_corosync(next(iter(texts.values())))
    totem = conf["totem"][0]
    assert totem["transport"] == "knet" and totem["crypto_cipher"] == "aes256"
    assert totem["token"] == ("1000" if inventory == "lab" else "3000")
    assert totem["token_coefficient"] == "650"
    assert "consensus" not in totem  # corosync's 1.2 x token
    nodes = conf["nodelist"][0]["node"]
    assert {n["name"]: n["ring0_addr"] for n in nodes} == NODES[inventory]
    assert sorted(n["nodeid"] for n in nodes) == ["1", "2", "3"]
    if inventory == "lab":  # two links: the lab's cluster network is link 1, preferred
        assert {n["name"]: n["ring1_addr"] for n in nodes} == {
            "glance1": "198.18.0.11", "glance2": "198.18.0.12", "glance3": "198.18.0.13"}
        assert totem["link_mode"] == "passive"
        assert corosync_links(conf) == {"0": {"linknumber": "0", "knet_link_priority": "1"},
                                        "1": {"linknumber": "1", "knet_link_priority": "2"}}
    else:
        assert "link_mode" not in totem and "interface" not in totem
        assert not any("ring1_addr" in n for n in nodes)
    quorum = conf["quorum"][0]
    assert quorum["provider"] == "corosync_votequorum" and "two_node" not in quorum


# The production example's corosync.conf (no glance_ha_cluster_address): one knet link, the file
# as it was before the second link existed.
SINGLE_LINK_COROSYNC = """\
# Managed by glance-ha (Ansible): local changes will be overwritten
# Corosync 3 (knet) for the glance-ha Pacemaker cluster. A dead node is declared after
# token + (nodes - 2) x token_coefficient, then consensus (1.2 x token unless set).
totem {
    version: 2
    cluster_name: glance
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
    token: 3000
    token_coefficient: 650
}

nodelist {
    node {
        name: glance1
        nodeid: 1
        ring0_addr: 10.20.0.11
    }
    node {
        name: glance2
        nodeid: 2
        ring0_addr: 10.20.0.12
    }
    node {
        name: glance3
        nodeid: 3
        ring0_addr: 10.20.0.13
    }
}

quorum {
    provider: corosync_votequorum
}

logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_syslog: yes
    timestamp: on
}
"""
# A second link for the production example: each node's 10.20.0.x internal address as 10.50.0.x.
SECOND_LINK = {"glance_ha_cluster_address": "{{ ansible_host | regex_replace('^10[.]20[.]', '10.50.') }}"}


def test_corosync_conf_without_a_second_link_is_unchanged(rendered):
    for node in NODES["production"]:
        assert (rendered["production"] / node / "corosync.conf").read_text() == SINGLE_LINK_COROSYNC


@pytest.fixture(scope="module")
def two_links(tmp_path_factory):
    """corosync.conf of the production example with a second link: passive preferring link 0
    (the lab's shows the default, link 1), and active."""
    variants = {"passive": {"cluster_preferred_link": 0}, "active": {"cluster_link_mode": "active"}}
    return {name: render(tmp_path_factory.mktemp(f"render-{name}"), "production",
                         dict(SECOND_LINK, **extra))[0]
            for name, extra in variants.items()}


def test_corosync_conf_with_a_second_link_passive(two_links):
    texts = {node: (two_links["passive"] / node / "corosync.conf").read_text()
             for node in NODES["production"]}
    assert len(set(texts.values())) == 1
    conf = parse_corosync(texts["glance1"])
    totem = conf["totem"][0]
    assert totem["link_mode"] == "passive"
    # cluster_preferred_link 0: the internal network's link has the higher priority
    assert corosync_links(conf) == {"0": {"linknumber": "0", "knet_link_priority": "2"},
                                    "1": {"linknumber": "1", "knet_link_priority": "1"}}
    nodes = conf["nodelist"][0]["node"]
    assert {n["name"]: (n["ring0_addr"], n["ring1_addr"]) for n in nodes} == {
        name: (address, address.replace("10.20.", "10.50.")) for name, address in NODES["production"].items()}
    # apart from the links, the file is the single-link one
    single = parse_corosync(SINGLE_LINK_COROSYNC)
    for block in (totem, *nodes):
        for key in ("link_mode", "interface", "ring1_addr"):
            block.pop(key, None)
    assert conf == single


def test_corosync_conf_with_a_second_link_active(two_links):
    conf = parse_corosync((two_links["active"] / "glance1" / "corosync.conf").read_text())
    assert conf["totem"][0]["link_mode"] == "active"
    # active sends on both links: no priority is rendered (corosync would ignore it)
    assert corosync_links(conf) == {"0": {"linknumber": "0"}, "1": {"linknumber": "1"}}
    assert all("ring1_addr" in n for n in conf["nodelist"][0]["node"])


def corosync_test_config(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`corosync -t` (parse the file and exit: nothing starts) on a copy whose first node is this
    machine (corosync refuses a file that does not name the local host), whose key is in
    tmp_path and which logs to stderr only (not to this machine's corosync log or syslog)."""
    key = tmp_path / "authkey"
    key.write_bytes(bytes(range(256)))
    key.chmod(0o400)
    text = text.replace("    version: 2\n", f"    version: 2\n    keyfile: {key}\n", 1)
    text = text.replace("name: glance1\n", f"name: {os.uname().nodename}\n", 1)
    for option in ("to_logfile", "to_syslog"):
        assert f"    {option}: yes\n" in text
        text = text.replace(f"    {option}: yes\n", f"    {option}: no\n")
    text = text.replace("    logfile: /var/log/corosync/corosync.log\n", "    to_stderr: yes\n")
    conf = tmp_path / "corosync.conf"
    conf.write_text(text)
    return subprocess.run(["corosync", "-t", "-c", str(conf)], capture_output=True, text=True,
                          timeout=30, check=False)


@pytest.mark.skipif(shutil.which("corosync") is None, reason="corosync not installed")
@pytest.mark.parametrize("links", ["single", "lab", "passive", "active"])
def test_corosync_accepts_the_file(rendered, two_links, links, tmp_path):
    out = {"single": rendered["production"], "lab": rendered["lab"]}.get(links) or two_links[links]
    proc = corosync_test_config((out / "glance1" / "corosync.conf").read_text(), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(shutil.which("corosync") is None, reason="corosync not installed")
def test_corosync_itself_refuses_a_second_link_on_some_nodes_only(two_links, tmp_path):
    """What validate.yml and preflight prevent: corosync would not start."""
    text = (two_links["passive"] / "glance1" / "corosync.conf").read_text()
    proc = corosync_test_config(text.replace("        ring1_addr: 10.50.0.13\n", ""), tmp_path)
    assert proc.returncode != 0
    assert "Not all nodes have the same number of links" in proc.stdout + proc.stderr


def test_a_second_link_on_some_nodes_only_is_refused(tmp_path):
    extra = {"glance_ha_cluster_address": "{{ '' if inventory_hostname == 'glance2' else "
                                          "ansible_host | regex_replace('^10[.]20[.]', '10.50.') }}"}
    out, proc = render(tmp_path, "production", extra, check=False)
    assert proc.returncode != 0
    assert ("cluster: glance_ha_cluster_address (the second corosync link) is set on some nodes "
            "but not on glance2: set it on every node of glance, or on none for a single link."
            ) in " ".join(proc.stdout.split())
    assert not list(out.glob("*/corosync.conf"))


def corosync_links(conf: dict) -> dict:
    return {i["linknumber"]: i for i in conf["totem"][0].get("interface", [])}


def cib_with_nodes(tmp_path: Path, names) -> Path:
    cib = tmp_path / "cib.xml"
    cib.write_text(subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True,
                                  check=True).stdout)
    root = ET.parse(cib).getroot()
    nodes = root.find("configuration/nodes")
    assert nodes is not None
    for index, name in enumerate(names, 1):
        ET.SubElement(nodes, "node", {"id": str(index), "uname": name})
    ET.ElementTree(root).write(cib)
    return cib


@pytest.mark.skipif(shutil.which("crm") is None or shutil.which("crm_verify") is None,
                    reason="crmsh/pacemaker not installed")
@pytest.mark.parametrize("inventory", ["lab", "production"])
def test_cib_loads_verifies_and_is_idempotent(rendered, inventory, tmp_path):
    src = rendered[inventory] / "glance1" / "cib.crm"
    text = src.read_text()
    for secret in VAULT_PLACEHOLDERS.values():
        assert secret not in text
    assert "password=" not in text.replace("password_script=", "")
    cib = cib_with_nodes(tmp_path, NODES[inventory])
    changed, _, after, _ = glance_ha_cib.converge(str(src), cib_file=str(cib))
    assert changed and "cl_glance-api" in after
    # Loaded once: a second converge changes nothing.
    assert glance_ha_cib.converge(str(src), cib_file=str(cib))[0] is False
    glance_ha_cib.verify(str(cib))  # Pacemaker's verdict: no error (an offline copy may warn)
    conf = ET.parse(cib).getroot().find("configuration")
    props = {nv.get("name"): nv.get("value") for nv in conf.iterfind("crm_config//nvpair")}
    assert props["no-quorum-policy"] == "stop"
    assert props["stonith-enabled"] == "true"  # the lab fences too (its BMC, fence_lab)
    assert props["dc-deadtime"] == ("5s" if inventory == "lab" else "20s")
    # the scheduler waits for the end of a burst of changes (a node loss) instead of Pacemaker's 1 s re-ask
    assert props["transition-delay"] == "100ms"
    clone = conf.find("resources/clone[@id='cl_glance-api']")
    meta = {nv.get("name"): nv.get("value") for nv in clone.iterfind("meta_attributes/nvpair")}
    assert meta["interleave"] == "true"
    prim = clone.find("primitive[@id='p_glance-api']")
    assert (prim.get("class"), prim.get("provider"), prim.get("type")) == ("ocf", "openstack", "glance-api")
    params = {nv.get("name"): nv.get("value") for nv in prim.iterfind("instance_attributes/nvpair")}
    assert params == {"config": "/etc/glance/glance-api.conf", "user": "glance",
                      "drain_attribute": "glance-api-drained", "warm_up_requests": "8",
                      "store_marker": ".glance-ha-store", "max_clock_skew": "60"}
    monitor = prim.find("operations/op[@name='monitor']")
    assert monitor.get("interval") == "5s" and monitor.get("timeout") == "20s"
    assert monitor.find("instance_attributes/nvpair[@name='OCF_CHECK_LEVEL']").get("value") == "10"
    for vip_id, ip in zip(("p_vip_internal", "p_vip_public"), VIPS[inventory], strict=True):
        vip = conf.find(f"resources/primitive[@id='{vip_id}']")
        assert (vip.get("provider"), vip.get("type")) == ("openstack", "glance-vip")
        assert vip.find("instance_attributes/nvpair[@name='ip']").get("value") == ip
        colo = conf.find(f"constraints/rsc_colocation[@rsc='{vip_id}']")
        assert colo.get("with-rsc") == "cl_glance-api" and colo.get("score") == "INFINITY"
        non_dc = conf.find(f"constraints/rsc_location[@id='loc_{vip_id}_prefers_non_dc']/rule")
        assert non_dc.get("score") == "50"
        expr = non_dc.find("expression")
        assert (expr.get("attribute"), expr.get("operation"), expr.get("value")) == ("#is_dc", "eq", "false")
        drained = conf.find(f"constraints/rsc_location[@id='loc_{vip_id}_avoids_drained']/rule")
        # the undrained nodes get a bonus (a ban of the drained ones would stop the VIP once
        # every node is drained: Pacemaker places nothing where the score is negative)
        assert drained.get("score") == "100000" and drained.get("boolean-op") == "or"
        exprs = [(e.get("attribute"), e.get("operation"), e.get("value")) for e in drained.iter("expression")]
        assert exprs == [("glance-api-drained", "not_defined", None), ("glance-api-drained", "ne", "1")]
        # a node that lost the link to the public gateway gives up the public VIP only; one that
        # lost its default gateway gives up both
        checks = ["gateway"] + (["public"] if vip_id == "p_vip_public" else [])
        for check in ("public", "gateway"):
            loc = conf.find(f"constraints/rsc_location[@id='loc_{vip_id}_prefers_{check}']/rule")
            assert (loc is not None) == (check in checks), (vip_id, check)
            if loc is not None:
                # a bonus above stickiness + the non-DC preference, never a ban (a negative score
                # on every node would stop the VIP when all lose the link)
                assert int(loc.get("score")) > 100 + 50
                exprs = [(e.get("attribute"), e.get("operation"), e.get("value")) for e in loc.iter("expression")]
                assert exprs == [(f"ping-{check}", "gte", "1")]
        order = conf.find(f"constraints/rsc_order[@then='{vip_id}']")
        assert order.get("first") == "cl_glance-api" and order.get("kind") == "Mandatory"
    gateways = {"lab": {"public": "203.0.113.1", "gateway": "198.51.100.1"},
                "production": {"public": "10.30.0.1 10.30.0.2", "gateway": "10.20.0.1"}}[inventory]
    for check, hosts in gateways.items():
        ping = conf.find(f"resources/clone[@id='cl_ping_{check}']/primitive[@id='p_ping_{check}']")
        assert (ping.get("provider"), ping.get("type")) == ("pacemaker", "ping")
        ping_params = {nv.get("name"): nv.get("value") for nv in ping.iterfind("instance_attributes/nvpair")}
        assert ping_params["name"] == f"ping-{check}" and ping_params["host_list"] == hosts
    check_alert(conf, ["glance-api-drained", "ping-public", "ping-gateway"])
    fencing = conf.findall("resources/primitive[@class='stonith']")
    if inventory == "lab":
        assert [f.get("type") for f in fencing] == ["fence_lab"]
        lab_dev = {nv.get("name"): nv.get("value") for nv in fencing[0].iterfind("instance_attributes/nvpair")}
        assert lab_dev["pcmk_host_list"] == "glance1 glance2 glance3" and lab_dev["ip"] == "198.51.100.2"
        assert lab_dev["password_script"] == "/bin/cat /etc/glance-ha/fence/fence-lab"
        assert "password" not in lab_dev  # the secret itself never enters the CIB
    else:
        assert {f.get("id") for f in fencing} == {"fence_glance1", "fence_glance2", "fence_glance3"}
        f1 = {nv.get("name"): nv.get("value")
              for nv in conf.find("resources/primitive[@id='fence_glance1']").iterfind(
                  "instance_attributes/nvpair")}
        assert f1["pcmk_host_list"] == "glance1" and f1["ip"] == "10.40.0.11"
        assert f1["password_script"] == "/bin/cat /etc/glance-ha/fence/fence_glance1"
        assert conf.find("constraints/rsc_location[@rsc='fence_glance1']").get("node") == "glance1"


def check_alert(conf: ET.Element, attributes: list[str]):
    """The alert of the CIB: every kind of event (the attributes selected) to the agent, the
    events log as recipient, the receivers only by the path of their file."""
    [alert] = conf.findall("alerts/alert")
    assert (alert.get("id"), alert.get("path")) == ("glance-ha-events", "/usr/lib/glance-ha/glance-ha-alert")
    params = {nv.get("name"): nv.get("value") for nv in alert.iterfind("instance_attributes/nvpair")}
    assert params == {"receivers_file": "/etc/glance-ha/alert-receivers.json"}
    meta = {nv.get("name"): nv.get("value") for nv in alert.iterfind("meta_attributes/nvpair")}
    assert meta == {"timeout": "20s"}
    select = alert.find("select")
    assert select is not None
    assert [c.tag for c in select] == ["select_nodes", "select_fencing", "select_resources"] + (
        ["select_attributes"] if attributes else [])
    assert [a.get("name") for a in select.iterfind("select_attributes/attribute")] == attributes
    assert [r.get("value") for r in alert.iterfind("recipient")] == ["/var/log/glance-ha/events.log"]


@pytest.fixture(scope="module")
def rendered_variants(tmp_path_factory):
    """The lab's cib.crm with the alert off, and with link attributes and both receivers."""
    out = {}
    for name, extra in {"off": {"ha_resources_alert_enabled": False},
                        "receivers": {"ha_resources_ping_checks": [
                                          {"name": "public", "hosts": ["203.0.113.1"], "vips": ["public"]},
                                          {"name": "gateway", "hosts": ["198.51.100.1"], "vips": ["internal"]}],
                                      "ha_resources_alert_command": "/usr/local/bin/page-oncall --team glance",
                                      "ha_resources_alert_url": "https://hooks.example.net/T0KEN-s3cret",
                                      "ha_resources_alert_receiver_timeout": 3}}.items():
        tmp = tmp_path_factory.mktemp(f"render-alert-{name}")
        run_playbook(ROOT / "tests" / "unit" / "render.yml", INVENTORIES["lab"], tmp,
                     dict(extra, render_dir=tmp / "out"))
        out[name] = (tmp / "out" / "glance1" / "cib.crm").read_text()
    return out


def test_cib_without_the_alert(rendered_variants):
    assert not re.search(r"^alert ", rendered_variants["off"], re.M)
    assert "glance-ha-alert" not in rendered_variants["off"]


@pytest.mark.skipif(shutil.which("crm") is None, reason="crmsh not installed")
def test_cib_alert_selects_the_link_attributes_and_never_holds_a_receiver(rendered_variants, tmp_path):
    text = rendered_variants["receivers"]
    assert "page-oncall" not in text and "hooks.example.net" not in text and "s3cret" not in text
    src = tmp_path / "cib.crm"
    src.write_text(text)
    cib = cib_with_nodes(tmp_path, NODES["lab"])
    assert glance_ha_cib.converge(str(src), cib_file=str(cib))[0]
    assert glance_ha_cib.converge(str(src), cib_file=str(cib))[0] is False
    conf = ET.parse(cib).getroot().find("configuration")
    timeouts = {nv.get("value") for nv in conf.iterfind("alerts/alert/meta_attributes/nvpair")}
    assert timeouts == {"16s"}  # twice the receivers' 3 s, plus 10 s
    assert [a.get("name") for a in conf.iterfind("alerts/alert/select/select_attributes/attribute")] == [
        "glance-api-drained", "ping-public", "ping-gateway"]


@pytest.mark.parametrize("extra, message", [
    ({"ha_resources_alert_url": "http://alerts:s3cret@hooks.example.net/in"},
     "credentials in it (user:password@) need https"),
    ({"ha_resources_alert_url": "hooks.example.net/in"}, "ha_resources_alert_url must be empty or an http"),
    ({"ha_resources_alert_command": "page-oncall"}, "ha_resources_alert_command must start with an absolute path"),
    ({"ha_resources_alert_attributes": ["ping public"]}, "each of ha_resources_alert_attributes must be a node"),
    ({"ha_resources_alert_log": "events.log"}, "ha_resources_alert_log must be an absolute path"),
], ids=["http-credentials", "no-scheme", "relative-command", "bad-attribute", "relative-log"])
def test_alert_settings_are_validated(tmp_path, extra, message):
    proc = run_playbook(ROOT / "tests" / "unit" / "render.yml", INVENTORIES["lab"], tmp_path,
                        dict(extra, render_dir=tmp_path / "out"), check=False)
    out = " ".join(proc.stdout.split())
    assert proc.returncode != 0 and message in out, proc.stdout[-3000:]
    assert "s3cret" not in proc.stdout  # the message never shows the URL


@pytest.mark.skipif(shutil.which("crm") is None, reason="crmsh not installed")
def test_cib_refuses_a_bad_configuration(tmp_path):
    bad = tmp_path / "bad.crm"
    bad.write_text("primitive p ocf:heartbeat:Dummy\nclone cl p\n"
                   "order o Mandatory: cl nowhere\n")
    cib = cib_with_nodes(tmp_path, ["glance1", "glance2"])
    before = cib.read_text()
    with pytest.raises(glance_ha_cib.CibError):
        glance_ha_cib.converge(str(bad), cib_file=str(cib))
    assert cib.read_text() == before


@pytest.mark.skipif(shutil.which("crm_verify") is None, reason="pacemaker not installed")
def test_cib_stonith_without_devices_is_refused_by_crm_verify(tmp_path):
    crm = tmp_path / "nofence.crm"
    crm.write_text("property cib-bootstrap-options: stonith-enabled=true\n"
                   "primitive p ocf:heartbeat:Dummy\n")
    cib = cib_with_nodes(tmp_path, ["glance1", "glance2", "glance3"])
    with pytest.raises(glance_ha_cib.CibError, match="crm_verify"):
        glance_ha_cib.converge(str(crm), cib_file=str(cib))


# crm_verify's verdicts (tools/crm_verify.c): Pacemaker 2.1 says "Errors found during check" /
# "Warnings found during check", 3.0 "Configuration invalid (with errors)" / "(with warnings)";
# both exit 78 for either. Only warnings pass.
@pytest.mark.parametrize("output, refused", [
    ("warning: no quorum\nWarnings found during check: config may not be valid\n", False),
    ("Errors found during check: config not valid\n", True),
    ("warning: no quorum\nConfiguration invalid (with warnings) (-V may provide more detail)\n", False),
    ("Configuration invalid (with errors) (-V may provide more detail)\n", True),
    ("error: Resource start-up disabled since no STONITH resources have been defined\n", True),
], ids=["2.1-warnings", "2.1-errors", "3.0-warnings", "3.0-errors", "error-line"])
def test_crm_verify_verdict_of_pacemaker_2_1_and_3_0(monkeypatch, output, refused):
    monkeypatch.setattr(glance_ha_cib, "_run", lambda argv, env=None, check=True: subprocess.CompletedProcess(
        argv, 78, stdout="", stderr=output))
    if refused:
        with pytest.raises(glance_ha_cib.CibError, match="crm_verify rc=78"):
            glance_ha_cib.verify("cib.xml")
    else:
        assert glance_ha_cib.verify("cib.xml") == output


def test_lab_controller_templates(rendered):
    out = rendered["lab"] / "controller"
    keystone = ini(out / "keystone.conf")
    password = lab_secret(rendered["lab"], "keystone_db")
    assert keystone["database"]["connection"] == (
        f"mysql+pymysql://keystone:{password}@localhost/keystone?unix_socket=/run/mysqld/mysqld.sock")
    assert keystone["token"]["provider"] == "fernet"
    uwsgi = ini(out / "keystone-uwsgi.ini")["uwsgi"]
    assert uwsgi["add-header"] == "Connection: close"
    assert uwsgi["wsgi-file"] == "/usr/bin/keystone-wsgi-public"
    mariadb = ini(out / "mariadb-lab.cnf")["mysqld"]
    assert mariadb["bind-address"] == "198.51.100.10"
    assert not (rendered["production"] / "controller").exists()


def test_production_example_has_no_literal_secret():
    for path in (ROOT / "inventory" / "production.example").rglob("*"):
        if path.is_file() and not path.name.endswith(".example"):
            for line in path.read_text().splitlines():
                if re.search(r"password\s*:", line):
                    assert "{{ vault_" in line, f"{path}: {line}"


def test_lab_inventory_has_no_literal_secret():
    for path in (ROOT / "inventory" / "lab" / "group_vars").rglob("*"):
        if path.is_file():
            for line in path.read_text().splitlines():
                if re.search(r"password\s*:", line):
                    assert "lookup('ansible.builtin.password'" in line, f"{path}: {line}"
