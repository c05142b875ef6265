"""A host's power: on (its network, its copy-on-write layer on the base image, systemd-nspawn
under a launcher in the host's own cgroups), a hard off, the wait for its boot; and commands
inside a running host without ssh (nsenter)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from glance_ha_lab.base_image import base_dir
from glance_ha_lab.cgroups import cgroup_dirs, host_pids, host_running
from glance_ha_lab.config import (
    LAB_DIR,
    LAB_NETS,
    PREFIX,
    Host,
    LabError,
    debian_release,
    load_hosts,
    store_dir,
    store_mounts,
)
from glance_ha_lab.network import ensure_host_network, ensure_switch, netns_exists, port_name, ssh_cmd, switch_netns
from glance_ha_lab.shell import log, run


def mounted(path: Path) -> bool:
    return run(["mountpoint", "-q", str(path)], check=False).returncode == 0


def prepare_layer(host: Host) -> None:
    """Mount the host's copy-on-write layer; on its first use give it its own identity. A layer
    stays on the base image it was made on (the lab's release: a trixie layer over a bookworm
    base would be neither): asked to boot on another, it refuses."""
    base = base_dir()
    made_on = host.state / "base"
    layer_base = made_on.read_text().strip() if made_on.exists() else str(base)
    if layer_base != str(base):
        raise LabError(f"{host.name}'s layer was made on the base image {layer_base}, "
                       f"not on {base} ({debian_release()}): set GLANCE_HA_LAB_RELEASE to the lab's release, "
                       f"or rebuild the lab on this one (`make lab-down`, then `make lab`)")
    for sub in ("upper", "work", "root"):
        (host.state / sub).mkdir(parents=True, exist_ok=True)
    made_on.write_text(f"{base}\n")
    if not mounted(host.root):
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={base},upperdir={host.state / 'upper'},workdir={host.state / 'work'}",
             str(host.root)])
    stamp = host.root / "etc/glance-ha-lab-host"
    if stamp.exists():
        return
    r = host.root
    (r / "etc/hostname").write_text(host.name + "\n")
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{h.internal} {h.name}" for h in load_hosts()]
    (r / "etc/hosts").write_text("\n".join(lines) + "\n")
    (r / "etc/machine-id").write_text(os.urandom(16).hex() + "\n")
    run(["ssh-keygen", "-A", "-f", str(r)], stdout=subprocess.DEVNULL)
    ssh_dir = r / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text((LAB_DIR / "ssh/id_ed25519.pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    stamp.write_text(f"lab host {host.name}, prefix {PREFIX}\n")


BOOT_START_TIMEOUT = 10.0  # seconds power_on waits for the host's first process


def power_on(host: Host) -> None:
    """Boot the host: its network, its layer, systemd in a container of its own. Returns once
    the host has its first process (powered, not booted), so that host_running is true from
    then on: a caller that checks right after (wait_booted) does not take a host whose
    launcher has not joined its cgroups yet for a dead one."""
    if host_running(host):
        return
    ensure_switch()
    ensure_host_network(host)
    prepare_layer(host)
    for d in cgroup_dirs(host):
        d.mkdir(parents=True, exist_ok=True)
    binds = []
    if host.is_glance:
        for name, target in store_mounts().items():
            store_dir(name).mkdir(parents=True, exist_ok=True)
            binds.append(f"--bind={store_dir(name)}:{target}")
    # The machine name is the lab's (nspawn keys machine-wide state on it, e.g. its
    # /run/systemd/nspawn/propagate/NAME, removed when the container exits): two labs' glance1
    # must not share it. The host's own name is its hostname.
    nspawn = ["systemd-nspawn", "-D", str(host.root), "--register=no", "--keep-unit",
              "-M", host.netns, f"--hostname={host.name}", f"--network-namespace-path=/run/netns/{host.netns}",
              "--capability=CAP_NET_ADMIN", "--console=read-only", "--resolv-conf=off",
              "--timezone=off", "--link-journal=no", "-E", "LANG=C.UTF-8", *binds, "-b"]
    # The launcher joins the host's own cgroups, then runs nspawn, and runs it again when the
    # host reboots itself (nspawn exits 133 on a reboot inside the container), as a machine
    # would; any other exit is a power-off. A hard power-off kills the launcher with the rest.
    joins = " ".join(f"echo $$ > {d}/cgroup.procs;" for d in cgroup_dirs(host))
    loop = ('while :; do "$@"; rc=$?; [ "$rc" -eq 133 ] || exit "$rc"; '
            'echo "launcher: the host rebooted, booting it again"; done')
    with open(host.state / "console.log", "ab") as logf:  # the launcher keeps its own copy
        subprocess.Popen(["sh", "-c", f"{joins} {loop}", "launcher"] + nspawn,
                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
    deadline = time.monotonic() + BOOT_START_TIMEOUT
    while not host_running(host):
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: no process {BOOT_START_TIMEOUT:.0f} s after power on; "
                           f"see {host.state / 'console.log'}")
        time.sleep(0.02)


def powered_off_at(host: Host) -> float | None:
    """When (time.time()) power_off last took the host down; None if it never did."""
    try:
        return float((host.state / "powered-off-at").read_text())
    except (OSError, ValueError):
        return None


def power_off(host: Host) -> None:
    """A hard power-off: every process of the host frozen, then killed at once; its network
    namespace deleted (or the dead host keeps answering on it). The time it lost power is kept
    (powered_off_at), for the BMC: a crashed host, like one it powered off, boots no sooner than
    its minimum off time after."""
    if host.state.exists():
        (host.state / "powered-off-at").write_text(f"{time.time():.3f}\n")
    freezer = next((d for d in cgroup_dirs(host) if d.parts[-3] == "freezer"), None)
    if freezer is not None and not freezer.exists():
        freezer = None
    if freezer is not None:
        (freezer / "freezer.state").write_text("FROZEN")
    try:
        for _ in range(100):
            pids = host_pids(host)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if freezer is not None:
                (freezer / "freezer.state").write_text("THAWED")  # killed processes die on thaw
            time.sleep(0.05)
        else:
            raise LabError(f"{host.name}: processes survive SIGKILL: {sorted(host_pids(host))}")
    finally:
        if freezer is not None:
            (freezer / "freezer.state").write_text("THAWED")
    if netns_exists(host.netns):
        run(["ip", "netns", "del", host.netns])
    for net in LAB_NETS:
        run(["ip", "-n", switch_netns(), "link", "del", port_name(host, net.tag)], check=False,
            stderr=subprocess.DEVNULL)
    for d in cgroup_dirs(host):
        if not d.exists():
            continue
        for sub in sorted([d, *d.rglob("*")], key=lambda p: len(p.parts), reverse=True):
            if sub.is_dir():
                try:
                    sub.rmdir()
                except OSError:
                    pass


def wait_booted(hosts: list[Host], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    pending = list(hosts)
    while pending:
        host = pending[0]
        r = run(ssh_cmd(host, "systemctl", "is-system-running", "--wait"), check=False, capture=True)
        state = r.stdout.strip()
        if r.returncode == 0 or state == "degraded":
            if state == "degraded":
                failed = run(ssh_cmd(host, "systemctl", "--failed", "--no-legend", "--plain"),
                             check=False, capture=True).stdout.strip()
                log(f"{host.name}: degraded: {failed}")
            pending.pop(0)
            continue
        if not host_running(host):
            tail = (host.state / "console.log").read_text(errors="replace")[-2000:]
            raise LabError(f"{host.name} died while booting; console:\n{tail}")
        if time.monotonic() > deadline:
            raise LabError(f"{host.name} did not finish booting in {timeout:.0f} s (ssh: {r.stderr.strip()})")
        time.sleep(0.5)


# ---------------------------------------------------------------------------------------------
# inside a running host
# ---------------------------------------------------------------------------------------------
def host_init_pid(host: Host) -> int:
    """The host's systemd (its PID 1), as this machine numbers it."""
    for pid in sorted(host_pids(host)):
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if argv0.endswith(b"/systemd") or argv0 == b"/sbin/init":
            return pid
    raise LabError(f"{host.name} is not running (no systemd): power it on with `lab power-on {host.name}`")


def in_host(host: Host, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """A shell command in every namespace of a running host, without ssh: for a host whose
    network or sshd is what a test broke."""
    return subprocess.run(["nsenter", "-t", str(host_init_pid(host)), "-a", "sh", "-c", command],
                          capture_output=True, text=True, timeout=timeout)
