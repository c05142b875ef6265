"""Several file stores through the VIP: import to several stores (with and without
--allow-failure while one store is read-only), copy-image to all stores, delete the copy in one
store, and `glance image-list --include-stores` agreeing with the audit."""

from __future__ import annotations

import hashlib
import os
import subprocess

from ansible_collections.glance_ha.ha.plugins.module_utils import names
from glance_ha_lab import labclient

from .conftest import REPO, audit, glance_api_nodes, on, wait_for

DATA = labclient.generated_image(size=128 << 10, seed=b"stores")
GLANCE_HOSTS = ["glance1", "glance2", "glance3"]


def staged(glance, name: str) -> str:
    image_id = glance.create(name)
    glance.req("PUT", f"/v2/images/{image_id}/stage", data=DATA,
               headers={"Content-Type": "application/octet-stream"})
    return image_id


def import_(glance, image_id: str, method: str = "glance-direct", **body) -> None:
    glance.req("POST", f"/v2/images/{image_id}/import", json={"method": {"name": method}, **body})


def stores_of(image: dict) -> set[str]:
    return {s for s in (image.get("stores") or "").split(",") if s}


def test_import_to_two_stores(glance):
    image_id = staged(glance, "day2-two-stores")
    import_(glance, image_id, stores=["fast", "bulk"], all_stores_must_succeed=True)
    image = glance.wait_import(image_id)
    assert image["status"] == "active" and stores_of(image) == {"fast", "bulk"}
    assert image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    _, report = audit()
    rows = {r["store"]: set(c["state"] for c in r["cells"].values()) for r in report["rows"] if r["image"] == image_id}
    assert rows == {"fast": {"ok"}, "bulk": {"ok"}}


def test_import_with_one_store_read_only(glance):
    """bulk made read-only for glance. The agent's store monitor would fail every instance on an
    unwritable store (as it should), so the cluster is in maintenance mode meanwhile: glance keeps
    serving and the import itself meets the read-only store."""
    on("glance1", "crm_attribute --type crm_config --name maintenance-mode --update true")
    on("glance2", "chmod 0550 /var/lib/glance/bulk")
    try:
        allowed = staged(glance, "day2-allow-failure")
        import_(glance, allowed, stores=["fast", "bulk"], all_stores_must_succeed=False)
        image = glance.wait_import(allowed)
        assert image["status"] == "active", image
        assert stores_of(image) == {"fast"}
        assert image["os_glance_failed_import"] == "bulk"

        strict = staged(glance, "day2-no-allow-failure")
        import_(glance, strict, stores=["fast", "bulk"], all_stores_must_succeed=True)
        # the task fails: the image never becomes active and holds no store (Zed leaves it in
        # status importing, os_glance_failed_import naming the store that refused)
        image = wait_for(lambda: (lambda i: i if "bulk" in i.get("os_glance_failed_import", "")
                                  and not i.get("os_glance_importing_to_stores") else None)(glance.get(strict)),
                         60, 0.5)
        assert image["status"] != "active" and not stores_of(image), image
        print(f"\nwithout --allow-failure: status {image['status']}, stores {image.get('stores')!r}, "
              f"os_glance_failed_import {image.get('os_glance_failed_import')!r}")
    finally:
        on("glance2", "chmod 0750 /var/lib/glance/bulk")
        on("glance1", "crm_attribute --type crm_config --name maintenance-mode --delete")
    wait_for(lambda: glance_api_nodes() == GLANCE_HOSTS, 60)


def test_copy_to_all_stores_delete_one_copy_and_include_stores_agrees_with_the_audit(glance, inventory_vars):
    image_id = glance.upload("day2-copy-image", DATA)
    assert stores_of(glance.get(image_id)) == {"shared"}
    import_(glance, image_id, method="copy-image", all_stores=True, all_stores_must_succeed=True)
    wait_for(lambda: stores_of(glance.get(image_id)) == {"shared", "fast", "bulk"}, 60, 0.5)
    glance.wait_import(image_id)

    glance.req("DELETE", f"/v2/stores/fast/{image_id}")
    image = glance.get(image_id)
    assert stores_of(image) == {"shared", "bulk"}
    listing = on("glance3", f"ls /var/lib/glance/fast/{image_id} 2>&1 || true")
    assert listing.strip().endswith("No such file or directory")

    env = dict(os.environ, OS_AUTH_URL=labclient.KEYSTONE_URL, OS_USERNAME="admin",
               OS_PASSWORD=labclient.admin_password(), OS_PROJECT_NAME="admin",
               OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default",
               OS_IMAGE_URL=f"http://{inventory_vars['glance_ha_internal_vip']}:{inventory_vars['glance_ha_api_port']}")
    out = subprocess.run([str(REPO / ".venv/bin/glance"), "image-list", "--include-stores"], env=env,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    print("\n$ glance image-list --include-stores\n" + out)
    listed = {}
    for line in out.splitlines():
        cols = [c.strip() for c in line.strip("|").split("|")]
        if len(cols) >= 3 and len(cols[0]) == 36:
            listed[cols[0]] = {s.strip() for s in cols[-1].split(",") if s.strip()}
    _, report = audit()
    audited = {}
    for r in report["rows"]:
        audited.setdefault(r["image"], set()).add(r["store"])
    assert listed[image_id] == {"shared", "bulk"}
    for iid, stores in audited.items():
        assert listed.get(iid) == stores, iid
    assert all(c["state"] == "ok" for r in report["rows"] if r["image"] == image_id for c in r["cells"].values())


def test_import_across_nodes_after_the_vip_moved(glance):
    """Staged through the VIP (the data is in the holder's local staging dir), VIP moved, import
    through the VIP: the new holder hands the import to the staging node (worker_self_reference_url)."""
    holder = labclient.cluster_state().active[names.VIP_RESOURCES["internal"]][0]
    image_id = staged(glance, "day2-import-across-nodes")
    assert on(holder, f"ls /var/lib/glance/staging/{image_id}").strip()
    other = next(h for h in GLANCE_HOSTS if h != holder)
    on(holder, f"crm_resource --move --resource {names.VIP_RESOURCES['internal']} --node {other} --lifetime PT5M")
    try:
        wait_for(lambda: labclient.cluster_state().active.get(names.VIP_RESOURCES["internal"]) == [other], 30, 0.5)
        import_(glance, image_id)
        image = glance.wait_import(image_id)
        print(f"\nstaged on {holder}, VIP moved to {other}, imported: {image['status']}")
        assert image["status"] == "active", image
        got = glance.req("GET", f"/v2/images/{image_id}/file").content
        assert hashlib.sha512(got).hexdigest() == image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    finally:
        on(holder, f"crm_resource --clear --resource {names.VIP_RESOURCES['internal']}")
