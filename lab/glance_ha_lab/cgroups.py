"""Which processes are a host's: those in the cgroups its launcher joins. A floor of its own,
below the base image (never rebuilt under running hosts) and power (which kills them)."""

from __future__ import annotations

from pathlib import Path

from glance_ha_lab.config import PREFIX, Host

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_dirs(host: Host) -> list[Path]:
    """The host's own cgroup in each hierarchy its launcher is put in (freezer: for a hard kill
    that takes every process at once; name=systemd and unified: systemd in the container needs
    a cgroup of its own, or its services fail with status=219/CGROUP)."""
    dirs = []
    for h in ("systemd", "freezer", "unified"):
        if (CGROUP_ROOT / h / "cgroup.procs").exists():
            dirs.append(CGROUP_ROOT / h / f"glance-ha-{PREFIX}" / host.name)
    return dirs


def host_pids(host: Host) -> set[int]:
    pids: set[int] = set()
    for d in cgroup_dirs(host):
        if d.exists():
            for procs in d.rglob("cgroup.procs"):
                try:
                    pids.update(int(p) for p in procs.read_text().split())
                except OSError:
                    pass
    return pids


def host_running(host: Host) -> bool:
    return bool(host_pids(host))
