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
    env["ANSIBLE_CONFIG"] = str(ROOT / "lab" / "ansible.cfg")
    env["ANSIBLE_LOCAL_TEMP"] = str(tmp / "ansible-local")
    env["ANSIBLE_HOME"] = str(tmp / "ansible-home")
    env["GLANCE_HA_LAB_DIR"] = str(tmp / "labdir")  # the lab's password lookups write here
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    return env


def run_playbook(playbook: Path, inventory: Path, tmp: Path, extra: dict | None = None,
                 check: bool = True) -> subprocess.CompletedProcess:
    argv = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook)]
    if extra:  # JSON: a value may hold spaces (a Jinja2 expression)
        argv += ["-e", json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in extra.items()})]
    proc = subprocess.run(argv, env=ansible_env(tmp), capture_output=True, text=True,
                          timeout=600, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def render(tmp: Path, name: str, extra: dict | None = None,
           check: bool = True) -> tuple[Path, subprocess.CompletedProcess]:
    """Render one inventory (INVENTORIES[name]) with extra vars on top: (<host>/<file> dir, run)."""
    merged = {"render_dir": tmp / "out", **(VAULT_PLACEHOLDERS if name == "production" else {}),
              **(extra or {})}
    proc = run_playbook(ROOT / "tests" / "unit" / "render.yml", INVENTORIES[name], tmp, merged, check)
    return tmp / "out", proc


def render_all(tmp_path_factory) -> dict[str, Path]:
    """{inventory name: directory of <host>/<file> rendered from it}."""
    return {name: render(tmp_path_factory.mktemp(f"render-{name}"), name)[0] for name in INVENTORIES}
