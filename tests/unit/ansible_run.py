"""Helpers shared by the role tests: run Ansible with the repository's config, render templates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = str(VENV_BIN / "ansible-playbook")
INVENTORIES = {
    "lab": ROOT / "inventory" / "lab",
    "production": ROOT / "inventory" / "production.example",
}
# The production example reads its secrets from a vault; tests give placeholders.
VAULT_PLACEHOLDERS = {
    "vault_glance_ha_db_password": "db-secret-Prod1",
    "vault_glance_ha_service_password": "svc-secret-Prod2",
    "vault_glance_ha_keystone_admin_password": "admin-secret-Prod3",
    "vault_fence_ipmi_password": "ipmi-secret-Prod4",
}


def ansible_env(tmp: Path) -> dict:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible" / "ansible.cfg")
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp / "ansible-local")
    env["ANSIBLE_HOME"] = str(tmp / "ansible-home")
    env["GLANCE_HA_LAB_DIR"] = str(tmp / "labdir")  # the lab's password lookups write here
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    return env


def run_playbook(playbook: Path, inventory: Path, tmp: Path, extra: dict | None = None,
                 check: bool = True) -> subprocess.CompletedProcess:
    argv = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook)]
    for key, value in (extra or {}).items():
        # lists, dicts, booleans keep their type as JSON; strings and paths as key=value
        argv += ["-e", f"{key}={value}" if isinstance(value, (str, Path)) else json.dumps({key: value})]
    proc = subprocess.run(argv, env=ansible_env(tmp), capture_output=True, text=True,
                          timeout=600, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def render_all(tmp_path_factory) -> dict[str, Path]:
    """{inventory name: directory of <host>/<file> rendered from it}."""
    out = {}
    for name, inventory in INVENTORIES.items():
        tmp = tmp_path_factory.mktemp(f"render-{name}")
        extra = {"render_dir": tmp / "out"}
        if name == "production":
            extra.update(VAULT_PLACEHOLDERS)
        run_playbook(ROOT / "tests" / "unit" / "render.yml", inventory, tmp, extra)
        out[name] = tmp / "out"
    return out
