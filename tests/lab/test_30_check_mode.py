"""On the converged lab, `--check --diff` reports no change and prints no secret."""

from __future__ import annotations

import os
import re
import subprocess

from .conftest import REPO, lab_secrets


def test_check_diff_on_the_converged_lab_changes_nothing_and_shows_no_secret():
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "lab/ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    r = subprocess.run([str(REPO / ".venv/bin/ansible-playbook"), "-i", str(REPO / "inventory/lab"),
                        str(REPO / "lab/site.yml"), "--check", "--diff"], capture_output=True,
                       text=True, env=env, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.M)
    assert {h for h, *_ in recap} >= {"controller", "glance1", "glance2", "glance3"}, out[-2000:]
    assert all(c == "0" and u == "0" and f == "0" for _, c, u, f in recap), recap
    for secret in lab_secrets():
        assert secret not in out
