"""Each role's README documents every variable of its argument specs (generated, kept in sync)."""

from __future__ import annotations

import subprocess
import sys

from ansible_run import ROOT


def test_role_readmes_are_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "role_readme.py"),
                           "--check"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
