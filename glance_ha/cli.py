"""`glance-ha`: the operator's day-2 commands, each a wrapper around one playbook of the collection.

    glance-ha status [--json]                     nodes, quorum, VIP holders, monitors, endpoints, audit
    glance-ha audit [--json] [--verify size]      per image copy x glance host: ok or what is wrong
    glance-ha maintenance HOST [--action A]       drain HOST, run A (none, upgrade, reboot), return it
    glance-ha maintenance HOST --drain-only       drain and leave it drained (`--return-only` undoes)
    glance-ha rolling-upgrade [--action A]        db expand + migrate, every host in turn, db contract

Every command needs an inventory: `-i INVENTORY` or $GLANCE_HA_INVENTORY. It runs the collection's
playbook (glance_ha.ha.status, .audit, .maintenance, .rolling_upgrade: install the collection with
ansible-galaxy) where ansible-playbook can reach the hosts. Exit status: 0 all well, 1 a problem
was found (a cell not ok, a playbook failed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

COLLECTION = "glance_ha.ha"  # the playbooks' namespace.name (ansible/galaxy.yml)
ACTIONS = ("none", "upgrade", "reboot")


class CliError(Exception):
    """A failure to report in one line (exit status 1)."""


def ansible_playbook() -> str:
    here = Path(sys.executable).parent / "ansible-playbook"
    found = str(here) if here.exists() else shutil.which("ansible-playbook")
    if not found:
        raise CliError("ansible-playbook not found: install ansible (make venv) or put it on PATH")
    return found


def run_playbook(inventory: str, playbook: str, extra: dict | None = None, quiet: bool = False
                 ) -> subprocess.CompletedProcess:
    cmd = [ansible_playbook(), "-i", inventory, f"{COLLECTION}.{playbook}"]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    if quiet:
        return subprocess.run(cmd, capture_output=True, text=True, check=False)
    return subprocess.run(cmd, check=False)


def _report_from(playbook: str, inventory: str, extra: dict, dest_var: str) -> tuple[dict, str]:
    """The playbook's report: (the JSON, the same as text), both written by its action plugin."""
    with tempfile.TemporaryDirectory(prefix="glance-ha-") as tmp:
        dest = Path(tmp) / "report.json"
        proc = run_playbook(inventory, playbook, dict(extra, **{dest_var: str(dest)}), quiet=True)
        text = dest.with_name(dest.name + ".txt")
        if not dest.exists() or not text.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            raise CliError(f"{COLLECTION}.{playbook} produced no report (ansible-playbook exited "
                           f"{proc.returncode}):\n{tail}")
        return json.loads(dest.read_text()), text.read_text().rstrip("\n")


def cmd_audit(args) -> int:
    report, text = _report_from("audit", args.inventory, {"glance_ha_audit_verify": args.verify},
                                "glance_ha_report_dest")
    print(json.dumps(report, indent=2) if args.json else text)
    return 0 if report["ok"] else 1


def cmd_status(args) -> int:
    report, text = _report_from("status", args.inventory, {"glance_ha_audit_verify": args.verify},
                                "glance_ha_status_dest")
    print(json.dumps(report, indent=2) if args.json else text)
    return 0 if report["healthy"] else 1


def cmd_maintenance(args) -> int:
    phases = "drain" if args.drain_only else "return" if args.return_only else "drain,action,return"
    proc = run_playbook(args.inventory, "maintenance", {
        "glance_ha_maintenance_host": args.host, "glance_ha_maintenance_action": args.action,
        "glance_ha_maintenance_phases": phases})
    return 0 if proc.returncode == 0 else 1


def cmd_rolling_upgrade(args) -> int:
    proc = run_playbook(args.inventory, "rolling_upgrade", {"glance_ha_maintenance_action": args.action})
    return 0 if proc.returncode == 0 else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="glance-ha", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("-i", "--inventory", default=os.environ.get("GLANCE_HA_INVENTORY") or None,
                   help="Ansible inventory (default: $GLANCE_HA_INVENTORY; one of the two is needed)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, helptext, func in (("audit", "per image copy x glance host availability", cmd_audit),
                                 ("status", "the cluster at a glance, with the audit's summary", cmd_status)):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("--json", action="store_true", help="the report as JSON (for machines)")
        sp.add_argument("--verify", choices=("checksum", "size"), default="checksum",
                        help="checksum reads every byte (default); size compares sizes only")
        sp.set_defaults(func=func)
    sp = sub.add_parser("maintenance", help="drain one glance host, run an action, return it")
    sp.add_argument("host", help="inventory name of the glance host")
    sp.add_argument("--action", choices=ACTIONS, default="none",
                    help="what to do while drained: none (default), upgrade (glance packages), reboot")
    only = sp.add_mutually_exclusive_group()
    only.add_argument("--drain-only", action="store_true", help="drain and leave the host drained")
    only.add_argument("--return-only", action="store_true", help="return a drained host to service")
    sp.set_defaults(func=cmd_maintenance)
    sp = sub.add_parser("rolling-upgrade", help="glance db expand + migrate, every glance host in turn, db contract")
    sp.add_argument("--action", choices=("upgrade", "reboot", "none"), default="upgrade",
                    help="what each host gets while drained (default upgrade)")
    sp.set_defaults(func=cmd_rolling_upgrade)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)  # bad flags: argparse prints usage + the error, exit status 2
    if not args.inventory:
        p.error("no inventory: pass -i INVENTORY or set GLANCE_HA_INVENTORY")
    if not Path(args.inventory).exists():
        p.error(f"inventory {args.inventory} does not exist (-i INVENTORY or $GLANCE_HA_INVENTORY)")
    try:
        return args.func(args)
    except CliError as e:
        print(f"glance-ha {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
