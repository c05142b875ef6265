"""The roles install on every node what the agents they ship need: each Python module an agent
imports (outside the standard library) is in a package of ha_resources_packages, and the
system's ocf.py (resource-agents) and nft (nftables) are in cluster_packages."""

from __future__ import annotations

import ast
import sys

import pytest
import yaml

from ansible_run import ROOT

AGENTS = [ROOT / "ocf" / "glance-api", ROOT / "ocf" / "glance-vip", ROOT / "alerts" / "glance-ha-alert"]
# Debian's package of each Python module the agents may import
DEBIAN_PACKAGE = {"psutil": "python3-psutil", "requests": "python3-requests", "yaml": "python3-yaml",
                  "ocf": "resource-agents"}


def defaults(role: str) -> dict:
    return yaml.safe_load((ROOT / "ansible" / "roles" / role / "defaults" / "main.yml").read_text())


def imported_modules(path) -> set[str]:
    """Every module the file imports, at any depth (the agents import lazily, inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("agent", AGENTS, ids=lambda p: p.name)
def test_every_module_an_agent_imports_is_installed_by_a_role(agent):
    installed = set(defaults("ha_resources")["ha_resources_packages"]) | set(defaults("cluster")["cluster_packages"])
    for module in sorted(imported_modules(agent)):
        assert module in DEBIAN_PACKAGE, f"{agent.name} imports {module}: add its Debian package here and to a role"
        assert DEBIAN_PACKAGE[module] in installed, (
            f"{agent.name} imports {module}, no role installs {DEBIAN_PACKAGE[module]}")


def test_the_glance_agent_imports_what_the_list_claims():
    """The check above is not empty: glance-api does import the third-party modules."""
    assert {"psutil", "requests", "yaml", "ocf"} <= imported_modules(ROOT / "ocf" / "glance-api")


def test_the_commands_glance_vip_runs_come_from_installed_packages():
    text = (ROOT / "ocf" / "glance-vip").read_text()
    assert '"ss"' in text and '"nft"' in text
    assert "iproute2" in defaults("ha_resources")["ha_resources_packages"]  # ip, ss
    assert "nftables" in defaults("cluster")["cluster_packages"]  # nft
