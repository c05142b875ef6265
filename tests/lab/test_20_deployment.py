"""The deployed service, as `make lab` leaves it."""

from __future__ import annotations

import configparser
import re

import pytest

from glance_ha_lab import config, labclient

from .conftest import lab_secrets, run_openstack

GLANCE_HOSTS = [h.name for h in config.load_hosts() if h.is_glance]


def test_three_nodes_online_with_quorum(state):
    assert sorted(state.nodes_online) == GLANCE_HOSTS
    assert state.nodes_offline == []
    assert state.quorum


def test_corosync_has_both_links_connected_on_every_node():
    """Link 0 on the internal network, link 1 on the lab's cluster network, each to both peers."""
    hosts = {h.name: h for h in config.load_hosts() if h.is_glance}
    for name, host in hosts.items():
        links = corosync_links(name)
        assert {k: addr for k, (addr, _) in links.items()} == {"0": host.internal, "1": host.cluster}
        for link, (_, connected) in links.items():
            assert connected == len(hosts) - 1, (name, link, links)


def corosync_links(host: str) -> dict[str, tuple[str, int]]:
    """`corosync-cfgtool -s` on the host: {link id: (its address, peers connected on it)}."""
    out = labclient.on_host(host, "corosync-cfgtool -s", check=False)
    links = {}
    for block in out.split("LINK ID ")[1:]:
        addr = re.search(r"addr\s*=\s*(\S+)", block)
        links[block.split()[0]] = (addr.group(1) if addr else "", len(re.findall(r"\bconnected\b", block)))
    return links


def test_the_glance_api_clone_runs_on_every_node(state):
    assert state.clone_nodes() == GLANCE_HOSTS, state.active
    assert state.failed == []


def test_each_vip_is_held_by_exactly_one_node_and_answers_healthcheck(state, inventory_vars):
    wanted = {inventory_vars["glance_ha_internal_vip"], inventory_vars["glance_ha_public_vip"]}
    assert set(state.vips.values()) == wanted
    for rid, ip in state.vips.items():
        assert len(state.active.get(rid, [])) == 1, (rid, state.active)
        assert labclient.healthcheck(ip) == 200


def test_image_endpoints_are_on_the_vips(inventory_vars):
    services = run_openstack("service", "list", "--long")
    image = [s for s in services if s["Type"] == "image"]
    assert len(image) == 1 and image[0]["Name"] == "glance"
    endpoints = run_openstack("endpoint", "list", "--service", "image")
    by_interface = {e["Interface"]: e for e in endpoints}
    assert sorted(by_interface) == ["admin", "internal", "public"]
    assert len(endpoints) == 3  # reruns create no duplicates
    internal = f"http://{inventory_vars['glance_ha_internal_vip']}:{inventory_vars['glance_ha_api_port']}"
    public = f"http://{inventory_vars['glance_ha_public_vip']}:{inventory_vars['glance_ha_api_port']}"
    assert by_interface["public"]["URL"] == public
    assert by_interface["internal"]["URL"] == internal
    assert by_interface["admin"]["URL"] == internal
    assert {e["Region"] for e in endpoints} == {"RegionOne"}


def test_an_image_round_trips_through_the_vip(conn, inventory_vars):
    data = labclient.generated_image(size=3 << 20, seed=b"test-round-trip")
    trip = labclient.image_round_trip(conn, "glance-ha-test-round-trip", data)
    try:
        assert trip["status"] == "active"
        assert trip["sha256_back"] == trip["sha256_sent"]
        assert trip["os_hash_value"] == trip["sha512_sent"]
        assert inventory_vars["glance_ha_public_vip"] in trip["endpoint"]
    finally:
        conn.image.delete_image(trip["id"], ignore_missing=True)


@pytest.mark.parametrize("host", GLANCE_HOSTS)
def test_no_secret_in_the_cib_or_any_command_line(host):
    secrets = lab_secrets()
    assert secrets, "the lab has no secrets to look for"
    shown = labclient.on_host(host, "crm configure show; cibadmin --query; ps -eo args")
    for s in secrets:
        assert s not in shown


def test_no_secret_on_the_controllers_command_lines():
    shown = labclient.on_host("controller", "ps -eo args")
    for s in lab_secrets():
        assert s not in shown


@pytest.mark.parametrize("host", GLANCE_HOSTS)
def test_glance_api_conf_is_private_and_pacemaker_owns_the_service(host):
    out = labclient.on_host(host, "stat -c '%a %U %G' /etc/glance/glance-api.conf; "
                            "systemctl is-enabled glance-api || true").split()
    assert out[:3] == ["640", "root", "glance"]
    assert out[3] == "masked"


@pytest.mark.parametrize("service,section,option", [("nova", "glance", "api_servers"),
                                                    ("cinder", "DEFAULT", "glance_api_servers")])
def test_clients_point_at_the_internal_vip(service, section, option, inventory_vars):
    text = labclient.on_host("controller", f"cat /etc/{service}/{service}.conf")
    conf = configparser.ConfigParser(interpolation=None, strict=False)
    conf.read_string(text)
    assert conf.get(section, option) == f"http://{inventory_vars['glance_ha_internal_vip']}:{inventory_vars['glance_ha_api_port']}"
