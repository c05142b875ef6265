"""The audit against the real lab: every state made for real (files removed, chmod'ed, bytes
corrupted, a store directory made unwritable, a glance-api stopped, a host powered off)."""

from __future__ import annotations

from ansible_collections.glance_ha.ha.plugins.module_utils import names
from glance_ha_lab import cgroups, config, labclient, power

from .conftest import audit, cells, glance_api_nodes, glance_ha, on, wait_for

GLANCE_HOSTS = [h.name for h in config.load_hosts() if h.is_glance]
DATA = labclient.generated_image(size=64 << 10, seed=b"audit")


def test_every_state_made_for_real(glance):
    ok_id = glance.upload("day2-audit-ok", DATA)
    missing = glance.upload("day2-audit-missing", DATA)
    no_access = glance.upload("day2-audit-no-access", DATA)
    corrupt = glance.upload("day2-audit-corrupt", DATA)
    truncated = glance.upload("day2-audit-truncated", DATA)
    undeletable = glance.upload("day2-audit-cannot-delete", DATA, store="bulk")
    rc, report = audit()
    assert all(s == "ok" for s in cells(report, ok_id).values())
    assert cells(report, undeletable, "bulk") == {h: "ok" for h in GLANCE_HOSTS}

    images = "/var/lib/glance/images"
    on("glance1", f"rm {images}/{missing}")
    on("glance2", f"chmod 0000 {images}/{no_access}")
    on("glance3", f"printf 'XXXX' | dd of={images}/{corrupt} bs=1 seek=100 conv=notrunc status=none")
    on("glance1", f"truncate -s 1000 {images}/{truncated}")
    try:
        rc, report = audit()
        print("\n" + glance_ha("audit").stdout)
        assert rc == 1 and not report["ok"]
        # the stores are shared: each fault shows on every host
        assert cells(report, ok_id) == {h: "ok" for h in GLANCE_HOSTS}
        assert cells(report, missing) == {h: "missing" for h in GLANCE_HOSTS}
        assert cells(report, no_access) == {h: "no-access" for h in GLANCE_HOSTS}
        assert cells(report, corrupt) == {h: "corrupt" for h in GLANCE_HOSTS}
        assert cells(report, truncated) == {h: "corrupt" for h in GLANCE_HOSTS}
        assert cells(report, undeletable, "bulk") == {h: "ok" for h in GLANCE_HOSTS}
    finally:
        on("glance2", f"chmod 0640 {images}/{no_access}")


def test_unwritable_or_untraversable_store_is_cannot_delete(glance):
    """A store directory glance cannot write (or traverse): its files cannot be deleted.

    The agent's store monitor fails an instance whose store is not writable (Pacemaker then
    stops it, and the audit would say offline), so the fault is made with the cluster in
    maintenance mode: Pacemaker monitors nothing, glance keeps serving, and the audit alone sees
    the store's state."""
    undeletable = glance.upload("day2-audit-cannot-delete", DATA, store="bulk")
    elsewhere = glance.upload("day2-audit-elsewhere", DATA)
    on("glance1", "crm_attribute --type crm_config --name maintenance-mode --update true")
    try:
        for mode in ("0550", "0000"):
            on("glance2", f"chmod {mode} /var/lib/glance/bulk")
            rc, report = audit()
            assert rc == 1
            assert cells(report, undeletable, "bulk") == {h: "cannot-delete" for h in GLANCE_HOSTS}, mode
            assert cells(report, elsewhere) == {h: "ok" for h in GLANCE_HOSTS}
    finally:
        on("glance2", "chmod 0750 /var/lib/glance/bulk")
        on("glance1", "crm_attribute --type crm_config --name maintenance-mode --delete")
    wait_for(lambda: glance_api_nodes() == GLANCE_HOSTS, 60)


def test_stopped_glance_api_is_offline_on_that_host_only(glance):
    image_id = glance.upload("day2-audit-offline", DATA)
    on("glance1", f"crm_resource --ban --resource {names.GLANCE_CLONE} --node glance3 --lifetime PT5M")
    try:
        wait_for(lambda: "glance3" not in glance_api_nodes(), 60)
        rc, report = audit()
        assert rc == 1
        assert cells(report, image_id) == {"glance1": "ok", "glance2": "ok", "glance3": "offline"}
        row = next(r for r in report["rows"] if r["image"] == image_id)
        assert "healthcheck" in row["cells"]["glance3"]["detail"]
    finally:
        on("glance1", f"crm_resource --clear --resource {names.GLANCE_CLONE} --node glance3")
    wait_for(lambda: glance_api_nodes() == GLANCE_HOSTS, 90)
    rc, report = audit()
    assert cells(report, image_id) == {h: "ok" for h in GLANCE_HOSTS}


def test_powered_off_host_is_offline_and_a_removed_file_missing(glance):
    """The issue's picture: one host stopped, one file removed (the table is printed)."""
    kept = glance.upload("day2-audit-kept", DATA)
    removed = glance.upload("day2-audit-removed", DATA)
    on("glance1", f"rm /var/lib/glance/images/{removed}")
    state = labclient.cluster_state()
    # not the holder of the internal VIP: the audit lists the images through it
    victim = next(h for h in reversed(GLANCE_HOSTS) if h not in state.active.get(names.VIP_RESOURCES["internal"], []))
    power.power_off(config.host_by_name(victim))
    try:
        r = glance_ha("audit")
        print(f"\n$ glance-ha audit   # {victim} powered off, the file of {removed} removed\n{r.stdout}")
        assert r.returncode == 1
        _, report = audit()
        alive = [h for h in GLANCE_HOSTS if h != victim]
        assert cells(report, kept) == dict({h: "ok" for h in alive}, **{victim: "offline"})
        assert cells(report, removed) == dict({h: "missing" for h in alive}, **{victim: "offline"})
    finally:
        host = config.host_by_name(victim)
        if not cgroups.host_running(host):  # Pacemaker's fencing may already have booted it
            power.power_on(host)
        power.wait_booted([host])
    wait_for(lambda: glance_api_nodes() == GLANCE_HOSTS, 180, 2)
