"""The lab is real: separate hosts with their own identity, network and state."""

from __future__ import annotations

import ipaddress

from glance_ha import lab, labclient


def test_every_host_answers_over_ssh_with_its_own_identity():
    seen = {}
    for host in lab.load_hosts():
        out = labclient.on_host(host.name, "hostname; cat /etc/machine-id; "
                                "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub; "
                                "ip -4 -o addr show dev eth0")
        name, machine_id, hostkey, *addrs = out.strip().splitlines()
        assert name == host.name
        # its own address first; a VIP may follow
        assert f" {host.internal}/24 " in addrs[0]
        seen[host.name] = (machine_id, hostkey.split()[1])
    machine_ids = [m for m, _ in seen.values()]
    hostkeys = [k for _, k in seen.values()]
    assert len(set(machine_ids)) == len(machine_ids), seen
    assert len(set(hostkeys)) == len(hostkeys), seen


def test_hosts_have_their_own_state():
    """A file written on one host's /etc is not on another's: each host has its own layer."""
    labclient.on_host("glance1", "echo glance1 > /etc/glance-ha-lab-probe")
    try:
        assert labclient.on_host("glance2", "cat /etc/glance-ha-lab-probe", check=False) == ""
    finally:
        labclient.on_host("glance1", "rm -f /etc/glance-ha-lab-probe")


def test_the_image_store_is_one_directory_shared_by_every_glance_host():
    labclient.on_host("glance1", "echo shared > /var/lib/glance/images/.lab-probe")
    try:
        for host in ("glance2", "glance3"):
            assert labclient.on_host(host, "cat /var/lib/glance/images/.lab-probe").strip() == "shared"
    finally:
        labclient.on_host("glance1", "rm -f /var/lib/glance/images/.lab-probe")


def test_nothing_of_the_lab_is_in_the_machines_own_namespace(request):
    for iface in request.config.host_ns_addresses:
        for a in iface.get("addr_info", []):
            if a.get("family") == "inet":
                addr = ipaddress.ip_address(a["local"])
                assert addr not in lab.INTERNAL_NET and addr not in lab.PUBLIC_NET, iface["ifname"]
