"""The end of `make lab`: an image through the VIP and back, then a summary of the lab.

Run inside the lab: `python -m glance_ha_lab on-controller python -m glance_ha_lab.smoke`.
"""

from __future__ import annotations

import sys
import time

from glance_ha_lab import labclient

IMAGE_NAME = "glance-ha-smoke"


def main() -> int:
    state = labclient.cluster_state()
    conn = labclient.connect()
    t0 = time.monotonic()
    trip = labclient.image_round_trip(conn, IMAGE_NAME, labclient.generated_image())
    trip_s = time.monotonic() - t0
    endpoints = sorted((e.interface, e.url) for e in conn.identity.endpoints()
                       if e.service_id in {s.id for s in conn.identity.services(type="image")})
    ok = (trip["status"] == "active" and trip["sha256_back"] == trip["sha256_sent"]
          and trip["os_hash_value"] == trip["sha512_sent"])
    print(f"nodes online : {', '.join(state.nodes_online)}"
          + (f" (offline: {', '.join(state.nodes_offline)})" if state.nodes_offline else "")
          + f"; quorum {'yes' if state.quorum else 'NO'}")
    for rid, holders in sorted(state.active.items()):
        print(f"resource     : {rid:20} on {', '.join(sorted(holders)) or '-'}")
    for rid, ip in sorted(state.vips.items()):
        print(f"VIP          : {ip:15} ({rid}) held by {', '.join(state.active.get(rid, [])) or 'NOBODY'}")
    for interface, url in endpoints:
        print(f"endpoint     : {interface:9} {url}")
    print(f"image        : {trip['name']} {trip['id']} {trip['status']}, {trip['size']} bytes via {trip['endpoint']}")
    print(f"round trip   : upload + download {trip_s:.1f} s, sha256 {'match' if ok else 'MISMATCH'} "
          f"({trip['sha256_back'][:16]}...), glance's sha512 "
          f"{'match' if trip['os_hash_value'] == trip['sha512_sent'] else 'MISMATCH'}")
    if not ok:
        print("FAILED: the image did not come back intact through the VIP", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
