"""Each preflight problem, with its exact message; and one negative run through ansible-playbook."""

from __future__ import annotations

import shutil

import pytest
import yaml

from ansible_collections.glance_ha.ha.plugins.module_utils import preflight
from ansible_run import INVENTORIES, ROOT, VAULT_PLACEHOLDERS, run_playbook

PASSWORDS = {name: True for name in preflight.PASSWORD_VARIABLES}


def good(**changes) -> dict:
    """The lab's settings, as the action plugin passes them; changes applied on top."""
    settings = {
        "glance_group": "glance",
        "node_names": ["glance1", "glance2", "glance3"],
        "node_addresses": ["198.51.100.11", "198.51.100.12", "198.51.100.13"],
        "node_public_addresses": ["203.0.113.11", "203.0.113.12", "203.0.113.13"],
        "node_cluster_addresses": ["198.18.0.11", "198.18.0.12", "198.18.0.13"], "cluster_prefix": 24,
        "internal_vip": "198.51.100.100", "internal_prefix": 24,
        "public_vip": "203.0.113.100", "public_prefix": 24,
        "api_port": 9292, "two_node": False, "qdevice_host": "",
        "stonith_enabled": False, "fence_devices": [],
        "passwords": dict(PASSWORDS),
    }
    settings.update(changes)
    return settings


def test_the_lab_settings_pass():
    assert preflight.check(good()) == []


@pytest.mark.parametrize("changes, message", [
    ({"internal_vip": ""},
     "glance_ha_internal_vip is not set: set it in the inventory (group_vars/all) to a free "
     "address in the glance nodes' glance_ha_internal_address subnet"),
    ({"internal_vip": "10.0.0.100"},
     "glance_ha_internal_vip 10.0.0.100 is outside the subnet 198.51.100.0/24 of glance1, glance2, "
     "glance3 (glance_ha_internal_prefix 24): set it to a free address in 198.51.100.0/24"),
    ({"internal_vip": "198.51.100.12"},
     "glance_ha_internal_vip 198.51.100.12 is the glance_ha_internal_address of glance2: choose an "
     "address that no host uses"),
    ({"internal_vip": "198.51.100.300"},
     "glance_ha_internal_vip '198.51.100.300' is not an IPv4 address: set it to a dotted-quad "
     "address such as 198.51.100.100"),
    ({"internal_vip": "198.51.100.255"},
     "glance_ha_internal_vip 198.51.100.255 is the network or broadcast address of "
     "198.51.100.0/24: set it to a free host address in 198.51.100.0/24"),
    ({"public_vip": "198.51.100.200"},
     "glance_ha_public_vip 198.51.100.200 is outside the subnet 203.0.113.0/24 of glance1, glance2, "
     "glance3 (glance_ha_public_prefix 24): set it to a free address in 203.0.113.0/24"),
    ({"public_vip": "203.0.113.13"},
     "glance_ha_public_vip 203.0.113.13 is the glance_ha_public_address of glance3: choose an "
     "address that no host uses"),
    ({"internal_prefix": 40},
     "glance_ha_internal_prefix 40 is not an IPv4 prefix length: use an integer 1-32 (e.g. 24 for a "
     "/24 network)"),
    ({"node_addresses": ["198.51.100.11", "198.51.100.11", "198.51.100.13"]},
     "glance_ha_internal_address 198.51.100.11 of glance2 is also used by glance1: give each host "
     "its own address"),
    ({"node_public_addresses": ["203.0.113.11", "203.0.113.11", "203.0.113.13"]},
     "glance_ha_public_address 203.0.113.11 of glance2 is also used by glance1: give each host its "
     "own address"),
    ({"node_public_addresses": ["203.0.113.11", "", "203.0.113.13"]},
     "glance_ha_public_address of glance2 is not set, but glance_ha_public_vip is: set "
     "glance_ha_public_address for glance2 to its address in the VIP's network"),
    ({"public_vip": "198.51.100.100", "public_prefix": 24,
      "node_public_addresses": ["198.51.100.21", "198.51.100.22", "198.51.100.23"]},
     "glance_ha_public_vip equals glance_ha_internal_vip: give the public VIP its own address on the "
     "public network, or leave glance_ha_public_vip empty"),
    ({"node_addresses": ["198.51.100.11", "", "198.51.100.13"]},
     "glance_ha_internal_address of glance2 is not set: set it to the host's address on the "
     "internal network (host_vars or ansible_host)"),
    ({"node_names": ["glance1"], "node_addresses": ["198.51.100.11"],
      "node_public_addresses": ["203.0.113.11"]},
     "the glance group has 1 host(s) (glance1): list at least 2 hosts (3 recommended) in the glance "
     "group of the inventory"),
    ({"node_names": [], "node_addresses": [], "node_public_addresses": []},
     "the glance group has 0 host(s) (none): list at least 2 hosts (3 recommended) in the glance "
     "group of the inventory"),
    ({"node_names": ["glance1", "glance2"], "node_addresses": ["198.51.100.11", "198.51.100.12"],
      "node_public_addresses": ["203.0.113.11", "203.0.113.12"]},
     "the glance group has 2 hosts but neither cluster_two_node nor cluster_qdevice_host is set: add "
     "a third host (recommended), set cluster_qdevice_host to a corosync-qnetd host, or set "
     "cluster_two_node: true (only with working fencing)"),
    ({"api_port": 70000},
     "glance_ha_api_port 70000 is not a TCP port: use an integer 1-65535 (glance's default is 9292)"),
    ({"api_port": "http"},
     "glance_ha_api_port 'http' is not a TCP port: use an integer 1-65535 (glance's default is 9292)"),
    ({"stonith_enabled": True},
     "ha_resources_stonith_enabled is true but ha_resources_fence_devices is empty: describe each "
     "host's fencing device in ha_resources_fence_devices (see inventory/production.example)"),
    ({"passwords": dict(PASSWORDS, glance_ha_db_password=False)},
     "glance_ha_db_password (the glance database user's password) is not set: define it in the "
     "inventory from a vault, e.g. glance_ha_db_password: \"{{ vault_glance_ha_db_password }}\" in "
     "group_vars/all/main.yml and vault_glance_ha_db_password in an ansible-vault encrypted "
     "group_vars/all/vault.yml"),
    ({"passwords": dict(PASSWORDS, glance_ha_service_password="False")},
     "glance_ha_service_password (the glance service user's Keystone password) is not set: define "
     "it in the inventory from a vault, e.g. glance_ha_service_password: \"{{ "
     "vault_glance_ha_service_password }}\" in group_vars/all/main.yml and "
     "vault_glance_ha_service_password in an ansible-vault encrypted group_vars/all/vault.yml"),
    ({"passwords": {k: v for k, v in PASSWORDS.items() if k != "glance_ha_keystone_admin_password"}},
     "glance_ha_keystone_admin_password (the Keystone admin password, used to create the glance "
     "user and endpoints) is not set: define it in the inventory from a vault, e.g. "
     "glance_ha_keystone_admin_password: \"{{ vault_glance_ha_keystone_admin_password }}\" in "
     "group_vars/all/main.yml and vault_glance_ha_keystone_admin_password in an ansible-vault "
     "encrypted group_vars/all/vault.yml"),
])
def test_each_problem_has_its_exact_message(changes, message):
    assert preflight.check(good(**changes)) == [message]


SECOND_LINK_PROBLEMS = [
    ({"node_cluster_addresses": ["198.18.0.11", "", "198.18.0.13"]},
     "glance_ha_cluster_address (the second corosync link) is set on glance1, glance3 but not on "
     "glance2: set it for glance2 to the host's address on the second link's network, or remove it "
     "from every host to keep one link"),
    ({"node_cluster_addresses": ["198.18.0.11"]},
     "glance_ha_cluster_address (the second corosync link) is set on glance1 but not on glance2, "
     "glance3: set it for glance2, glance3 to the host's address on the second link's network, or "
     "remove it from every host to keep one link"),
    ({"node_cluster_addresses": ["198.18.0.11", "198.18.0.300", "198.18.0.13"]},
     "glance_ha_cluster_address of glance2 '198.18.0.300' is not an IPv4 address: set it to the "
     "host's dotted-quad address on the second link's network"),
    ({"node_cluster_addresses": ["198.18.0.11", "198.18.0.11", "198.18.0.13"]},
     "glance_ha_cluster_address 198.18.0.11 of glance2 is also used by glance1: give each host its "
     "own address"),
    ({"node_cluster_addresses": ["198.18.0.11", "198.18.0.12", "198.18.1.13"]},
     "glance_ha_cluster_address is on 2 networks (glance_ha_cluster_prefix 24): 198.18.0.0/24: "
     "glance1 198.18.0.11, glance2 198.18.0.12; 198.18.1.0/24: glance3 198.18.1.13: give every host "
     "an address on the one network of the second link, or set glance_ha_cluster_prefix to that "
     "network's prefix length"),
    ({"node_cluster_addresses": ["198.51.100.21", "198.51.100.22", "198.51.100.23"]},
     "glance_ha_cluster_address of glance1 198.51.100.21, glance2 198.51.100.22, glance3 "
     "198.51.100.23 is on 198.51.100.0/24 (glance_ha_cluster_prefix 24), which overlaps the internal "
     "network 198.51.100.0/24 of link 0 (glance_ha_internal_address, glance_ha_internal_prefix 24): "
     "give the second link a network of its own (one switch or VLAN failure would cut both links), "
     "with each host's address there"),
    # a wider prefix that takes in the internal network is the same mistake
    ({"node_cluster_addresses": ["198.18.0.11", "198.18.0.12", "198.18.0.13"], "cluster_prefix": 8},
     "glance_ha_cluster_address of glance1 198.18.0.11, glance2 198.18.0.12, glance3 198.18.0.13 is "
     "on 198.0.0.0/8 (glance_ha_cluster_prefix 8), which overlaps the internal network "
     "198.51.100.0/24 of link 0 (glance_ha_internal_address, glance_ha_internal_prefix 24): give the "
     "second link a network of its own (one switch or VLAN failure would cut both links), with each "
     "host's address there"),
    ({"node_cluster_addresses": ["198.18.0.11", "198.51.100.12", "198.18.0.13"]},
     "glance_ha_cluster_address 198.51.100.12 of glance2 is also its glance_ha_internal_address "
     "(link 0): set it to the host's address on another network, so that the second link does not "
     "fail with the first"),
    ({"node_cluster_addresses": ["198.18.0.11", "203.0.113.13", "198.18.0.13"]},
     "glance_ha_cluster_address 203.0.113.13 of glance2 is also the glance_ha_public_address of "
     "glance3: give each host its own address"),
    ({"cluster_prefix": "x"},
     "glance_ha_cluster_prefix 'x' is not an IPv4 prefix length: use an integer 1-32 (e.g. 24 for a "
     "/24 network)"),
]


@pytest.mark.parametrize("changes, message", SECOND_LINK_PROBLEMS)
def test_each_second_link_problem_has_its_exact_message(changes, message):
    assert preflight.check(good(**changes)) == [message]


@pytest.mark.parametrize("changes", [
    {"node_cluster_addresses": []},                       # one link
    {"node_cluster_addresses": ["", "", ""], "cluster_prefix": "x"},  # the prefix is only read with a second link
    # the public network may carry the second link, on the hosts' public addresses
    {"node_cluster_addresses": ["203.0.113.11", "203.0.113.12", "203.0.113.13"]},
    {"node_cluster_addresses": ["10.50.0.11", "10.50.1.12", "10.50.2.13"], "cluster_prefix": 16},
])
def test_one_link_or_a_good_second_link_passes(changes):
    assert preflight.check(good(**changes)) == []


def test_second_link_problems_are_all_reported_at_once():
    errors = preflight.check(good(node_cluster_addresses=["198.51.100.11", "198.18.0.13", "198.18.1.13"]))
    assert errors == [
        "glance_ha_cluster_address 198.51.100.11 of glance1 is also its glance_ha_internal_address "
        "(link 0): set it to the host's address on another network, so that the second link does not "
        "fail with the first",
        "glance_ha_cluster_address is on 2 networks (glance_ha_cluster_prefix 24): 198.18.0.0/24: "
        "glance2 198.18.0.13; 198.18.1.0/24: glance3 198.18.1.13: give every host an address on the "
        "one network of the second link, or set glance_ha_cluster_prefix to that network's prefix "
        "length"]


def test_two_nodes_pass_with_two_node_or_qdevice():
    two = {"node_names": ["glance1", "glance2"], "node_addresses": ["198.51.100.11", "198.51.100.12"],
           "node_public_addresses": ["203.0.113.11", "203.0.113.12"]}
    assert preflight.check(good(two_node=True, **two)) == []
    assert preflight.check(good(qdevice_host="qnetd.example.net", **two)) == []


def test_no_public_vip_is_fine():
    assert preflight.check(good(public_vip="", node_public_addresses=["", "", ""])) == []


def test_all_problems_are_collected_in_one_report():
    errors = preflight.check(good(internal_vip="", api_port=0, passwords={}))
    assert len(errors) == 5
    report = preflight.report(errors)
    assert report.splitlines()[0] == ("preflight found 5 problems in the inventory; nothing was "
                                      "changed:")
    assert all(f"  - {e}" in report.splitlines() for e in errors)


def test_through_ansible_playbook_a_broken_lab_inventory_stops_before_any_host(tmp_path):
    """A copy of the lab inventory with a VIP outside the subnet, no db password and one host
    without its second-link address."""
    broken = tmp_path / "inventory"
    shutil.copytree(INVENTORIES["lab"], broken)
    all_vars = broken / "group_vars" / "all.yml"
    data = yaml.safe_load(all_vars.read_text())
    data["glance_ha_internal_vip"] = "192.0.2.50"
    del data["glance_ha_db_password"]
    all_vars.write_text(yaml.safe_dump(data))
    hosts = broken / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("          lab_cluster_address: 198.18.0.12\n", ""))
    proc = run_playbook(ROOT / "lab" / "site.yml", broken, tmp_path, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "preflight found 3 problems in the inventory; nothing was changed:" in out
    assert ("glance_ha_cluster_address (the second corosync link) is set on glance1, glance3 but "
            "not on glance2") in out
    assert ("glance_ha_internal_vip 192.0.2.50 is outside the subnet 198.51.100.0/24 of glance1, "
            "glance2, glance3 (glance_ha_internal_prefix 24): set it to a free address in "
            "198.51.100.0/24") in out
    assert "glance_ha_db_password (the glance database user's password) is not set" in out
    # Nothing but the deploy host was involved: no glance or controller task ran.
    assert "PLAY [Glance cluster" not in out and "glance1" not in out.split("PLAY RECAP")[1]


def test_through_ansible_playbook_the_lab_and_production_inventories_pass(tmp_path):
    """Only the preflight play (tags would not stop later plays: use a one-play copy)."""
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Preflight only", "hosts": "localhost", "gather_facts": False,
        "roles": [{"role": "glance_ha.ha.preflight"}]}]))
    for name, inventory in INVENTORIES.items():
        extra = VAULT_PLACEHOLDERS if name == "production" else {}
        proc = run_playbook(playbook, inventory, tmp_path, extra)
        assert "preflight: inventory OK (3 glance hosts)" in proc.stdout


STORES: list[dict] = [{"name": "shared", "path": "/var/lib/glance/images"},
          {"name": "scratch", "path": "/srv/glance/scratch", "shared": False}]


def test_an_unshared_store_is_refused_with_the_variable_and_the_fix():
    assert preflight.check(good(stores=STORES)) == [
        "glance_api_stores: store 'scratch' (/srv/glance/scratch) is declared shared: false: its "
        "images would be served only by the glance node that wrote them, and the VIP sends requests "
        "to any node. Mount it from shared storage at the same path on every glance node and drop "
        "shared: false, or set glance_api_allow_unshared_stores: true to run it anyway (then "
        "`glance-ha audit` shows which hosts lack which images)"]


@pytest.mark.parametrize("changes", [
    {"stores": STORES, "allow_unshared_stores": True},
    {"stores": STORES, "allow_unshared_stores": "true"},   # as Ansible templates it
    {"stores": [dict(s, shared=True) for s in STORES]},
    {"stores": [{"name": "shared", "path": "/var/lib/glance/images"}]},  # shared is the default
])
def test_shared_stores_or_an_explicit_allowance_pass(changes):
    assert preflight.check(good(**changes)) == []
