"""The lab is real: separate hosts with their own identity, network and state."""

from __future__ import annotations

import ipaddress
import subprocess

from glance_ha_lab import bmc, config, labclient, network


def test_every_host_answers_over_ssh_with_its_own_identity():
    seen = {}
    for host in config.load_hosts():
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
                assert not any(addr in net.net for net in config.LAB_NETS), iface["ifname"]


def test_every_host_is_on_its_lab_networks_with_its_fixed_mac():
    for host in config.load_hosts():
        for net, addr in host.links():
            # the MAC from ip, not /sys/class/net: a host's sysfs may show another namespace's
            # devices (the controller's did: the machine's own eth0)
            out = labclient.on_host(host.name, f"ip -4 -o addr show dev {net.dev}; "
                                               f"ip -o link show dev {net.dev} | grep -o 'link/ether [^ ]*'"
                                               " | cut -d' ' -f2")
            assert f" {addr}/{net.net.prefixlen} " in out, (host.name, net.dev, out)
            assert out.split()[-1] == network.fixed_mac(addr)
    # the controller is not on the cluster network
    assert labclient.on_host("controller", "ip link show eth2", check=False) == ""


def test_the_cluster_network_joins_the_glance_hosts():
    glance = [h for h in config.load_hosts() if h.is_glance]
    for peer in glance[1:]:
        labclient.on_host(glance[0].name, f"ping -c 1 -W 2 -I eth2 {peer.cluster}")


def test_the_gateways_answer_and_are_every_hosts_default_route():
    gws = config.gateways()
    for host in config.load_hosts():
        route = labclient.on_host(host.name, "ip -4 route show default").split()
        assert route[:5] == ["default", "via", str(gws["internal"].ip), "dev", "eth0"], (host.name, route)
        for name, gw in gws.items():
            if host.address(next(n for n in config.LAB_NETS if n.name == name)):
                labclient.on_host(host.name, f"ping -c 1 -W 2 {gw.ip}")
                macs = labclient.on_host(host.name, f"ip neigh show {gw.ip}")
                assert network.fixed_mac(str(gw.ip)) in macs, (host.name, macs)
    # the BMC, on the same bridge, still answers
    labclient.on_host("glance1", f"ping -c 1 -W 2 {bmc.BMC_ADDRESS}")


def test_the_gateways_live_in_the_switch_namespace_only():
    sw = subprocess.run(["ip", "-n", network.switch_netns(), "-4", "-o", "addr", "show"], capture_output=True,
                        text=True, check=True).stdout
    for name, gw in config.gateways().items():
        bridge = next(n.bridge for n in config.LAB_NETS if n.name == name)
        assert f"{bridge}    inet {gw} " in sw, sw
