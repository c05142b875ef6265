"""Integration tests against the real lab (built by `make lab` / `make test-lab`).

The test process enters the controller's network namespace at start, as Ansible and the
clients do: every request below crosses the lab bridges."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from glance_ha_lab import config as lab_config  # not `config`: pytest's hooks take a `config`
from glance_ha_lab import labclient, network

REPO = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    if not (lab_config.LAB_DIR / "READY").exists():
        raise pytest.UsageError(f"the lab is not up ({lab_config.LAB_DIR}/READY missing): run `make lab` first")
    # Facts about the machine's own namespace must be read before we leave it.
    config.host_ns_addresses = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True,
                                                         text=True, check=True).stdout)
    network.enter_netns()


@pytest.fixture(scope="session")
def inventory_vars():
    """The lab inventory's variables for a glance host, as Ansible resolves them."""
    out = subprocess.run([str(REPO / ".venv/bin/ansible-inventory"), "-i", str(REPO / "inventory/lab"),
                          "--host", "glance1"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="session")
def conn():
    return labclient.connect()


@pytest.fixture
def state():
    return labclient.cluster_state()


def lab_secrets() -> list[str]:
    return [p.read_text().strip() for p in (lab_config.LAB_DIR / "secrets").iterdir() if p.is_file()]


def run_openstack(*args: str) -> list | dict:
    out = subprocess.run([str(REPO / ".venv/bin/openstack"), *args, "-f", "json"], capture_output=True,
                         text=True, check=True, env=labclient.openstack_env(), timeout=120).stdout
    return json.loads(out)
