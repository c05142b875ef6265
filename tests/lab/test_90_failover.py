"""A hard crash of the VIP holder: every process of that host killed at once.

Runs last: it power-cycles a host and waits for the cluster to heal."""

from __future__ import annotations

import hashlib
import time

import requests

from ansible_collections.glance_ha.ha.plugins.module_utils import names
from glance_ha_lab import config, labclient, power
from glance_ha_lab.labclient import wait_for

GLANCE_HOSTS = [h.name for h in config.load_hosts() if h.is_glance]


def test_image_downloadable_through_the_vip_after_the_vip_holder_dies(conn, inventory_vars, state):
    vip = inventory_vars["glance_ha_internal_vip"]
    data = labclient.generated_image(size=2 << 20, seed=b"failover")
    trip = labclient.image_round_trip(conn, "glance-ha-test-failover", data)
    url = f"http://{vip}:{names.GLANCE_API_PORT}/v2/images/{trip['id']}/file"
    token = conn.session.get_token()
    rid = next(r for r, ip in state.vips.items() if ip == vip)
    holder = state.active[rid][0]

    t0 = time.monotonic()
    power.power_off(config.host_by_name(holder))
    try:
        def downloaded():
            r = requests.get(url, headers={"X-Auth-Token": token}, timeout=2)
            return r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == trip["sha256_sent"]

        wait_for(downloaded, timeout=60, step=0.1)
        outage = time.monotonic() - t0
        new_state = labclient.cluster_state(via=next(h for h in GLANCE_HOSTS if h != holder))
        print(f"\nfailover: {holder} killed; image downloadable through {vip} again after {outage:.1f} s "
              f"(VIP now on {new_state.active.get(rid)})")
        assert new_state.active.get(rid) and holder not in new_state.active[rid]
        assert outage < 30
    finally:
        host = config.host_by_name(holder)
        power.power_on(host)
        power.wait_booted([host])
        conn.image.delete_image(trip["id"], ignore_missing=True)

    # the crashed host rejoins and runs its glance-api instance again
    def healed():
        s = labclient.cluster_state()
        return sorted(s.nodes_online) == GLANCE_HOSTS and s.clone_nodes() == GLANCE_HOSTS
    wait_for(healed, timeout=120, step=2)
