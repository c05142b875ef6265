"""The collection as an operator installs it: the tarball `make collection` builds, installed with
ansible-galaxy into an empty directory, driven by a site playbook and an inventory directory of
the operator's own (FQCN role names, no path into this repository), against the lab: it
converges (run at -vvv: no secret in the output, every task from the installed copy), then a
second run reports changed=0."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from .conftest import REPO, lab_secrets

BIN = REPO / ".venv" / "bin"
OPERATOR_PLAYBOOK = """\
---
- name: Check the inventory before any host changes
  hosts: localhost
  gather_facts: false
  roles:
    - glance_ha.ha.preflight

- name: Highly available glance-api
  hosts: glance
  any_errors_fatal: true
  roles:
    - glance_ha.ha.cluster
    - glance_ha.ha.glance_api
    - glance_ha.ha.endpoints
    - glance_ha.ha.ha_resources

- name: Point nova and cinder at the internal VIP
  hosts: glance_clients
  roles:
    - glance_ha.ha.clients
"""
OPERATOR_CFG = """\
[defaults]
inventory = inventory
collections_path = collections
host_key_checking = False
interpreter_python = auto_silent
error_on_undefined_vars = True
# the header of every rendered file: the lab's (lab/ansible.cfg), or this converge would rewrite
# each config file and restart glance-api for a comment
ansible_managed = Managed by glance-ha (Ansible): local changes will be overwritten

[ssh_connection]
pipelining = True
"""


def operator_site(tmp: Path) -> Path:
    """An operator's directory: ansible.cfg, site.yml and inventory/ (the lab's hosts and values,
    copied: the fence agent's path is the one thing that named this repository)."""
    site = tmp / "site"
    shutil.copytree(REPO / "inventory" / "lab", site / "inventory")
    glance_vars = site / "inventory" / "group_vars" / "glance.yml"
    data = yaml.safe_load(glance_vars.read_text())
    data["ha_resources_extra_agents"] = [{"src": str(REPO / "lab" / "glance_ha_lab" / "fence_lab"),
                                          "dest": "/usr/sbin/fence_lab"}]
    glance_vars.write_text(yaml.safe_dump(data, sort_keys=False))
    (site / "site.yml").write_text(OPERATOR_PLAYBOOK)
    (site / "ansible.cfg").write_text(OPERATOR_CFG)
    return site


def run(site: Path, *argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(site / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOME=str(site / ".ansible"))
    return subprocess.run(argv, cwd=site, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def recap(out: str) -> dict[str, tuple[int, int, int]]:
    rows = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.M)
    return {host: (int(c), int(u), int(f)) for host, c, u, f in rows}


def test_the_installed_collection_converges_the_lab_and_a_second_run_changes_nothing(tmp_path):
    version = yaml.safe_load((REPO / "ansible" / "galaxy.yml").read_text())["version"]
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(REPO / "ansible"),
                            "--output-path", str(tmp_path)], capture_output=True, text=True, check=False)
    tarball = tmp_path / f"glance_ha-ha-{version}.tar.gz"
    assert built.returncode == 0 and tarball.exists(), built.stdout + built.stderr
    site = operator_site(tmp_path)
    # --force: this checkout's own copy (the dev venv finds it) must not count as installed;
    # --offline: the dependencies (community.general, .mysql, openstack.cloud) are the ansible
    # package's, no Galaxy server is reachable
    inst = run(site, str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p",
               str(site / "collections"), "--offline", "--force")
    assert inst.returncode == 0, inst.stdout + inst.stderr
    installed = site / "collections" / "ansible_collections" / "glance_ha" / "ha"
    agent = installed / "roles" / "ha_resources" / "files" / "glance-api"
    assert agent.is_file() and not agent.is_symlink(), "the tarball must carry the agent itself"
    assert agent.read_bytes() == (REPO / "ocf" / "glance-api").read_bytes()

    first = run(site, str(BIN / "ansible-playbook"), "site.yml", "-vvv")
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-4000:]
    assert set(recap(out)) >= {"glance1", "glance2", "glance3", "controller"}, out[-2000:]
    assert all(u == 0 and f == 0 for _, u, f in recap(out).values()), recap(out)
    print(f"\n[installed collection, first run] changed per host: { {h: c for h, (c, _, _) in recap(out).items()} }")
    task_paths = re.findall(r"^task path: (\S+)", out, re.M)
    ours = [p for p in task_paths if "/glance_ha/ha/" in p]
    assert ours and all(p.startswith(str(installed)) for p in ours), sorted(set(ours))[:5]
    for secret in lab_secrets():
        assert secret not in out, "a lab secret is in the -vvv output"

    second = run(site, str(BIN / "ansible-playbook"), "site.yml")
    out2 = second.stdout + second.stderr
    assert second.returncode == 0, out2[-4000:]
    assert {h: c for h, (c, _, _) in recap(out2).items()} == dict.fromkeys(recap(out2), 0), out2[-3000:]
