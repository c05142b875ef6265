"""The whole lab: up (build or repair it, boot every host), down, status. The top floor below the
command line: it may use every other lab module, and none of them uses it."""

from __future__ import annotations

import shutil
import time

from glance_ha_lab import bmc
from glance_ha_lab.base_image import build_base
from glance_ha_lab.cgroups import host_running
from glance_ha_lab.config import LAB_DIR, NET_NAMES, PREFIX, REPO, load_hosts
from glance_ha_lab.network import (
    check_no_overlap,
    cut_nets,
    ensure_host_network,
    ensure_switch,
    netns_exists,
    ssh_cmd,
    switch_netns,
)
from glance_ha_lab.power import mounted, power_off, power_on, wait_booted
from glance_ha_lab.shell import log, run


def ensure_ssh_key() -> None:
    key = LAB_DIR / "ssh/id_ed25519"
    if key.exists():
        return
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"glance-ha-lab-{PREFIX}", "-f", str(key)])


def write_readme() -> None:
    (LAB_DIR / "README").write_text(
        f"glance-ha lab (prefix {PREFIX}), built by {REPO}/lab/glance_ha_lab/hosts.py\n"
        f"  status:       python -m glance_ha_lab status\n"
        f"  shell:        python -m glance_ha_lab ssh glance1\n"
        f"  on controller (ansible, clients): python -m glance_ha_lab on-controller CMD...\n"
        f"  power:        python -m glance_ha_lab power-off|power-on HOST\n"
        f"  cables:       python -m glance_ha_lab cut-link|restore-link HOST [--net internal|public|cluster]\n"
        f"  remove:       python -m glance_ha_lab down [--purge]\n")


def up() -> None:
    t0 = time.monotonic()
    hosts = load_hosts()
    check_no_overlap()
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    (LAB_DIR / "READY").unlink(missing_ok=True)
    ensure_ssh_key()
    build_base()
    ensure_switch()
    bmc.start()
    for host in hosts:
        # A host whose processes are gone but whose namespace or layer is left is repaired by a
        # clean power cycle; a running one is left alone.
        if not host_running(host):
            log(f"booting {host.name}")
            power_off(host)
            power_on(host)
        else:
            # a running host gets what the lab gained since it booted (a network), no reboot
            added = ensure_host_network(host)
            if added:
                log(f"{host.name} (running): added {', '.join(added)}")
    log("waiting for every host to boot (ssh over the lab bridge)")
    wait_booted(hosts)
    write_readme()
    (LAB_DIR / "READY").write_text(time.strftime("%F %T") + "\n")
    log(f"lab up in {time.monotonic() - t0:.1f} s: " + ", ".join(f"{h.name} {h.internal}" for h in hosts))


def down(purge: bool = False) -> None:
    hosts = load_hosts()
    (LAB_DIR / "READY").unlink(missing_ok=True)
    bmc.stop()  # first: nothing powers a host on while the lab goes
    for host in hosts:
        power_off(host)
        if mounted(host.root):
            run(["umount", str(host.root)])
        if host.state.exists():
            shutil.rmtree(host.state)
    if netns_exists(switch_netns()):
        run(["ip", "netns", "del", switch_netns()])
    shared = LAB_DIR / "shared"
    if shared.exists():
        shutil.rmtree(shared)
    if purge and LAB_DIR.exists():
        shutil.rmtree(LAB_DIR)
    log("lab removed" + (" (with its base image)" if purge else " (base image kept)"))


def status() -> int:
    rc = 0
    for host in load_hosts():
        running = host_running(host)
        reach = running and run(ssh_cmd(host, "true"), check=False, capture=True).returncode == 0
        cut = cut_nets(host)
        print(f"{host.name:12} {host.internal:15} {'running' if running else 'off':8} "
              f"{'ssh ok' if reach else 'ssh down'}"
              + (f"  link cut: {', '.join(n for n in NET_NAMES if n in cut)}" if cut else ""))
        rc |= 0 if reach else 1
    return rc
