"""The base image every lab host boots from: debootstrapped once, from the lab's Debian release
(config.debian_release(): bookworm or trixie), with every package the hosts need; one directory
per release and package set (base_stamp), built beside it and renamed into place."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from glance_ha_lab.cgroups import host_running
from glance_ha_lab.config import LAB_DIR, LabError, debian_release, load_hosts
from glance_ha_lab.shell import log, run

MIRROR = "http://deb.debian.org/debian"
# Everything every lab host needs, installed once into the base image: the hosts have no
# route to a package mirror, as many production networks don't.
BASE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt",
    "iproute2", "iputils-ping", "iputils-arping", "procps", "psmisc", "curl", "less",
    "ca-certificates", "sudo", "util-linux", "kmod",
    "pacemaker", "pacemaker-cli-utils", "corosync", "crmsh", "resource-agents", "fence-agents",
    "python3-psutil", "python3-requests", "python3-pymysql",
    "mariadb-server", "mariadb-client", "keystone", "glance-api",
    # keystonemiddleware's shared token cache: a node that just took the VIP serves its first
    # requests from the cache instead of validating every token with Keystone again
    "memcached", "python3-memcache",
    # glance-vip's guard: new connections to a VIP that just left a node get an RST
    "nftables",
    # the node-local fault suite skews one host's clock (LD_PRELOAD through /etc/ld.so.preload):
    # the hosts share this machine's kernel clock, which no namespace can offset
    "libfaketime",
    # OpenStack's conformance suite (make tempest), run from the controller through the VIPs
    "tempest", "glance-tempest-plugin",
]
# Package services the base image leaves disabled: the roles enable what each host should run
# (and Pacemaker, not systemd, runs glance-api).
BASE_DISABLED_UNITS = [
    "glance-api.service", "keystone.service", "mariadb.service", "mariadb.socket", "corosync.service",
    "iscsid.socket", "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
    "pacemaker.service", "apache2.service", "uwsgi.service", "memcached.service",
]


def base_dir() -> Path:
    # One directory per package set: a changed set builds beside the old image, which other
    # labs' hosts may still run on. GLANCE_HA_LAB_BASE lets a second lab share the first's.
    return Path(os.environ.get("GLANCE_HA_LAB_BASE", LAB_DIR / f"base-{base_stamp()}"))


def base_stamp(suite: str | None = None) -> str:
    """The image's identity: its release and package set (a bookworm and a trixie image coexist)."""
    suite = suite or debian_release()
    return hashlib.sha256(("\n".join(BASE_PACKAGES + BASE_DISABLED_UNITS) + suite).encode()).hexdigest()[:16]


def base_ready() -> bool:
    return (base_dir() / ".glance-ha-base").is_file() and \
        (base_dir() / ".glance-ha-base").read_text().strip() == base_stamp()


def build_base() -> None:
    """debootstrap + packages into base.tmp, then rename: a half-built image is never used."""
    if base_ready():
        return
    suite = debian_release()
    if any(host_running(h) for h in load_hosts()):
        raise LabError("the base image changed but lab hosts are running on the old one: run `make lab-down` first")
    tmp = base_dir().with_name(base_dir().name + ".tmp")
    if tmp.exists():
        log("removing a half-built base image")
        shutil.rmtree(tmp)
    t0 = time.monotonic()
    log(f"debootstrap {suite} (minbase) into {tmp}")
    run(["debootstrap", "--variant=minbase", "--include=ca-certificates", suite, str(tmp), MIRROR],
        stdout=subprocess.DEVNULL)
    log(f"debootstrap done in {time.monotonic() - t0:.0f} s; installing {len(BASE_PACKAGES)} packages")
    policy = tmp / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")  # no daemon starts inside the build chroot
    policy.chmod(0o755)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LANG="C.UTF-8", LC_ALL="C.UTF-8")
    for fs, target in (("proc", "proc"), ("sysfs", "sys")):
        run(["mount", "-t", fs, fs, str(tmp / target)])
    try:
        run(["chroot", str(tmp), "apt-get", "update", "-qq"], env=env)
        run(["chroot", str(tmp), "apt-get", "install", "-y", "-qq", "--no-install-recommends"] + BASE_PACKAGES,
            env=env, stdout=subprocess.DEVNULL)
        run(["chroot", str(tmp), "apt-get", "clean"], env=env)
    finally:
        for target in ("sys", "proc"):
            run(["umount", "-l", str(tmp / target)], check=False)
    policy.unlink()
    run(["systemctl", f"--root={tmp}", "disable", "--quiet"] + BASE_DISABLED_UNITS, check=False,
        stderr=subprocess.DEVNULL)
    run(["systemctl", f"--root={tmp}", "enable", "--quiet", "ssh.service"])
    run(["systemctl", f"--root={tmp}", "mask", "--quiet", "systemd-networkd-wait-online.service",
         "getty@tty1.service", "console-getty.service"], check=False)
    # Each host gets its own identity at first boot of its layer.
    for f in (tmp / "etc/ssh").glob("ssh_host_*"):
        f.unlink()
    (tmp / "etc/machine-id").write_text("")
    (tmp / "etc/default/locale").write_text("LANG=C.UTF-8\n")
    (tmp / ".glance-ha-base").write_text(base_stamp(suite) + "\n")
    if base_dir().exists():
        shutil.rmtree(base_dir())
    tmp.rename(base_dir())
    log(f"base image ready in {time.monotonic() - t0:.0f} s")
