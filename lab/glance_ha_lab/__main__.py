"""The lab: real Debian hosts (12 or 13) on this one machine, for every integration test and benchmark.

Each host is a systemd-nspawn container booted with systemd, made from one debootstrapped base
image (already holding the Debian packages) plus a copy-on-write overlay of its own, so it has
its own /etc, /var, dpkg and systemd. Each host lives in its own network namespace; the lab's
bridges (LAB_NETS: internal, public, and the cluster network of corosync's second link) live in
a namespace of their own with the lab's gateway addresses, so nothing is added to the machine's
own network.

    python -m glance_ha_lab up | down [--purge] | status | power-off HOST | power-on HOST
                            | cut-link HOST [--net internal|public|cluster]... | restore-link HOST [--net ...]
                            | exec HOST CMD... | ssh HOST [CMD...] | on-controller CMD...

Environment: GLANCE_HA_LAB_PREFIX (default "gha": namespace and cgroup names),
GLANCE_HA_LAB_DIR (default /var/lib/glance-ha-lab: base image, host layers, keys, secrets),
GLANCE_HA_LAB_BASE (default $GLANCE_HA_LAB_DIR/base-STAMP), GLANCE_HA_LAB_RELEASE (bookworm or
trixie; default: the lab inventory's lab_debian_release). Two labs on one machine need a prefix
and a lab dir each; they may share a base image.

The floors, each importing only those below it: config; shell; cgroups, network; base_image;
power; bmc; hosts; this command line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from glance_ha_lab.config import NET_NAMES, LabError, host_by_name
from glance_ha_lab.hosts import down, status, up
from glance_ha_lab.network import cut_link, enter_netns, ssh_cmd
from glance_ha_lab.power import power_off, power_on, wait_booted
from glance_ha_lab.shell import cli_error


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m glance_ha_lab", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="build (or repair) the lab and boot every host")
    d = sub.add_parser("down", help="remove the hosts and networks (keeps the base image)")
    d.add_argument("--purge", action="store_true", help="also remove the base image and keys")
    sub.add_parser("status", help="one line per host")
    for name in ("power-off", "power-on"):
        sp = sub.add_parser(name)
        sp.add_argument("host")
    for name, verb in (("cut-link", "cut"), ("restore-link", "restore")):
        sp = sub.add_parser(name, help=f"{verb} a host's links at the switch (every link: a partition)")
        sp.add_argument("host")
        sp.add_argument("--net", action="append", choices=NET_NAMES, dest="nets",
                        help=f"{verb} only the link on this network (repeatable; default: every link)")
    for name in ("exec", "ssh"):
        sp = sub.add_parser(name, help="run a command on a host over ssh from the controller's namespace")
        sp.add_argument("host")
        sp.add_argument("command", nargs=argparse.REMAINDER)
    sp = sub.add_parser("on-controller", help="run a local command inside the controller's network namespace")
    sp.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    try:
        if a.cmd == "up":
            up()
        elif a.cmd == "down":
            down(a.purge)
        elif a.cmd == "status":
            return status()
        elif a.cmd == "power-off":
            power_off(host_by_name(a.host))
        elif a.cmd == "power-on":
            host = host_by_name(a.host)
            power_on(host)
            wait_booted([host])
        elif a.cmd in ("cut-link", "restore-link"):
            cut_link(host_by_name(a.host), up=a.cmd == "restore-link", nets=a.nets)
        elif a.cmd in ("exec", "ssh"):
            cmd = ssh_cmd(host_by_name(a.host), *a.command)
            if a.cmd == "ssh" and not a.command:
                cmd.insert(cmd.index("ssh") + 1, "-t")
            return subprocess.call(cmd)
        elif a.cmd == "on-controller":
            if not a.command:
                raise LabError("on-controller needs a command")
            enter_netns()
            os.execvp(a.command[0], a.command)
    except (LabError, subprocess.CalledProcessError) as e:
        return cli_error("lab", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
