"""ansible-lint, production profile, on ansible/ (the same as `make lint`)."""

from __future__ import annotations

import subprocess

from ansible_run import ROOT, VENV_BIN, ansible_env


def test_ansible_lint_production_profile(tmp_path):
    proc = subprocess.run([str(VENV_BIN / "ansible-lint"), "--profile", "production", "--nocolor"],
                          cwd=ROOT / "ansible", env=ansible_env(tmp_path), capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
