"""`glance-ha`: the operator's day-2 commands, each a wrapper around one playbook of ansible/.

    glance-ha status [--json]                     nodes, quorum, VIP holders, monitors, endpoints, audit
    glance-ha audit [--json] [--verify size]      per image copy x glance host: ok or what is wrong
    glance-ha maintenance HOST [--action A]       drain HOST, run A (none, upgrade, reboot), return it
    glance-ha maintenance HOST --drain-only       drain and leave it drained (`--return-only` undoes)
    glance-ha rolling-upgrade [--action A]        db expand + migrate, every host in turn, db contract

Every command takes `-i INVENTORY` (default: $GLANCE_HA_INVENTORY, else the repository's
inventory/lab) and runs where ansible-playbook can reach the hosts (for the lab: inside it,
`python -m glance_ha.lab on-controller glance-ha ...`). Exit status: 0 all well, 1 a problem was
found (a cell not ok, a playbook failed), 2 bad usage.
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

from glance_ha import audit as audit_mod

REPO = Path(__file__).resolve().parent.parent
ANSIBLE_DIR = REPO / "ansible"
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
    cmd = [ansible_playbook(), "-i", inventory, str(ANSIBLE_DIR / playbook)]
    if extra:
        cmd += ["-e", json.dumps(extra)]
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(ANSIBLE_DIR / "ansible.cfg"))
    if quiet:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return subprocess.run(cmd, env=env, check=False)


def _report_from(playbook: str, inventory: str, extra: dict, dest_var: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="glance-ha-") as tmp:
        dest = Path(tmp) / "report.json"
        proc = run_playbook(inventory, playbook, dict(extra, **{dest_var: str(dest)}), quiet=True)
        if not dest.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            raise CliError(f"{playbook} produced no report (ansible-playbook exited {proc.returncode}):\n{tail}")
        return json.loads(dest.read_text())


def cmd_audit(args) -> int:
    report = _report_from("audit.yml", args.inventory, {"glance_ha_audit_verify": args.verify},
                          "glance_ha_report_dest")
    print(json.dumps(report, indent=2) if args.json else audit_mod.render_table(report))
    return 0 if report["ok"] else 1


def cmd_status(args) -> int:
    from glance_ha import status as status_mod

    report = _report_from("status.yml", args.inventory, {"glance_ha_audit_verify": args.verify},
                          "glance_ha_status_dest")
    print(json.dumps(report, indent=2) if args.json else status_mod.render(report))
    return 0 if report["healthy"] else 1


def cmd_maintenance(args) -> int:
    phases = "drain" if args.drain_only else "return" if args.return_only else "drain,action,return"
    proc = run_playbook(args.inventory, "maintenance.yml", {
        "glance_ha_maintenance_host": args.host, "glance_ha_maintenance_action": args.action,
        "glance_ha_maintenance_phases": phases})
    return 0 if proc.returncode == 0 else 1


def cmd_rolling_upgrade(args) -> int:
    proc = run_playbook(args.inventory, "rolling_upgrade.yml", {"glance_ha_maintenance_action": args.action})
    return 0 if proc.returncode == 0 else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="glance-ha", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("-i", "--inventory",
                   default=os.environ.get("GLANCE_HA_INVENTORY", str(REPO / "inventory" / "lab")),
                   help="Ansible inventory (default: $GLANCE_HA_INVENTORY, else inventory/lab)")
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
    if not Path(args.inventory).exists():
        p.error(f"inventory {args.inventory} does not exist (-i INVENTORY or $GLANCE_HA_INVENTORY)")
    try:
        return args.func(args)
    except CliError as e:
        print(f"glance-ha {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
