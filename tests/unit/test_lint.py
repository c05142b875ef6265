"""ansible-lint, production profile, on the collection (ansible/) and on the lab's playbook and
role (lab/): the same as `make lint`."""

from __future__ import annotations

import subprocess

import pytest

from ansible_run import ROOT, VENV_BIN, ansible_env


@pytest.mark.parametrize("tree", ["ansible", "lab"])
def test_ansible_lint_production_profile(tmp_path, tree):
    proc = subprocess.run([str(VENV_BIN / "ansible-lint"), "--profile", "production", "--nocolor"],
                          cwd=ROOT / tree, env=ansible_env(tmp_path), capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
