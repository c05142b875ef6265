"""Failure-mode suite: each case injects a real fault while a client polls the VIP."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import threading
import time

import pytest

from glance_ha_lab import config, labclient
from glance_ha_lab.vipclient import VipClient

GLANCE_HOSTS = [h.name for h in config.load_hosts() if h.is_glance]


# the suite polls twice as often as the default
wait_for = functools.partial(labclient.wait_for, step=0.5)
vip_holders_by_namespace = labclient.vip_holders_by_namespace


class VipWatch(threading.Thread):
    """Samples, every 100 ms, which hosts hold the VIP (namespaces) and who answers ARP."""

    def __init__(self, vip: str, arp: bool = True):
        super().__init__(daemon=True)
        self.vip, self.arp = vip, arp
        self.max_holders = 0
        self.max_arp_macs = 0
        self.samples: list[tuple[float, list[str]]] = []
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            holders = vip_holders_by_namespace(self.vip)
            self.samples.append((time.monotonic(), holders))
            self.max_holders = max(self.max_holders, len(holders))
            if self.arp:
                out = subprocess.run(["arping", "-c", "2", "-w", "1", "-I", "eth0", self.vip],
                                     capture_output=True, text=True).stdout
                macs = {line.split("[")[1].split("]")[0] for line in out.splitlines() if "reply from" in line}
                self.max_arp_macs = max(self.max_arp_macs, len(macs))
            self._stop_event.wait(0.1)

    def stop(self):
        self._stop_event.set()
        self.join(timeout=5)


@pytest.fixture(scope="module")
def internal_vip(inventory_vars):
    return inventory_vars["glance_ha_internal_vip"]


@pytest.fixture(scope="module")
def test_image(conn):
    data = labclient.generated_image(size=1 << 20, seed=b"ha-suite")
    trip = labclient.image_round_trip(conn, "glance-ha-ha-suite", data)
    yield trip
    conn.image.delete_image(trip["id"], ignore_missing=True)


@pytest.fixture
def client_factory(conn, test_image, internal_vip):
    clients = []

    def make(**kw) -> VipClient:
        c = VipClient(internal_vip, conn.session.get_token(), test_image["id"], test_image["sha256_sent"], **kw)
        c.start()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.stop(time.monotonic())


def holder_of(vip: str) -> str:
    holders = vip_holders_by_namespace(vip)
    assert len(holders) == 1, f"VIP {vip} held by {holders}"
    return holders[0]


def healthy_cluster() -> bool:
    """Pacemaker's view (3 nodes, clone on 3, each VIP once, nothing failed, no action pending)
    and the instances themselves: each node's glance-api answers its own healthcheck. crm_mon
    alone can still show an instance Started that a cleanup's re-probe is about to find gone."""
    s = labclient.cluster_state()
    if not (sorted(s.nodes_online) == GLANCE_HOSTS and s.clone_nodes() == GLANCE_HOSTS and not s.failed
            and all(len(s.active.get(r, [])) == 1 for r in s.vips)):
        return False
    if labclient.on_host(GLANCE_HOSTS[0], "crm_resource --wait --timeout=30 >/dev/null 2>&1 && echo idle",
                         check=False, timeout=60).strip() != "idle":
        return False
    return all(labclient.healthcheck(h.internal) == 200 for h in config.load_hosts() if h.is_glance)


def cluster_report() -> str:
    """What an operator would look at when the cluster did not heal: crm_mon and each node's
    last agent lines."""
    out = [labclient.on_host(GLANCE_HOSTS[0], "crm_mon -1rfA", check=False, timeout=30)]
    for h in GLANCE_HOSTS:
        out.append(f"--- {h}: last glance-api agent lines")
        out.append(labclient.on_host(h, "grep -h 'glance-api(' /var/log/pacemaker/pacemaker.log | tail -n 15",
                                     check=False, timeout=30))
    return "\n".join(out)


def wait_healthy(what: str, timeout: float) -> None:
    try:
        wait_for(healthy_cluster, timeout=timeout, step=2, what=what)
    except AssertionError:
        print(cluster_report())
        raise


@pytest.fixture(autouse=True)
def healthy_before_and_after():
    """Every case starts from, and leaves, a healthy cluster (3 nodes, clone on 3, VIPs up)."""
    wait_healthy("healthy cluster before the case", timeout=120)
    yield
    # forget the failures the case provoked, so the next case starts with clean failcounts
    for h in GLANCE_HOSTS:
        if labclient.on_host(h, "crm resource cleanup >/dev/null 2>&1 && echo ok", check=False).strip() == "ok":
            break
    wait_healthy("healthy cluster after the case", timeout=180)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
