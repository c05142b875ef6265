"""The names every part of glance-ha agrees on, for Python: read from the one definition, the
names role's vars (roles/names/vars/main.yml), which the roles and playbooks read too.

    from ansible_collections.glance_ha.ha.plugins.module_utils import names
    names.GLANCE_CLONE, names.VIP_RESOURCES["internal"], names.ping_attribute("public")

Used on the deploy host (action plugins, `glance-ha`, the tests, the lab), never shipped to a node.
"""

from __future__ import annotations

from pathlib import Path

import yaml

DEFINITION = Path(__file__).resolve().parents[2] / "roles" / "names" / "vars" / "main.yml"
_NAMES: dict = yaml.safe_load(DEFINITION.read_text(encoding="utf-8"))

GLANCE_PRIMITIVE: str = _NAMES["names_glance_primitive"]
GLANCE_CLONE: str = _NAMES["names_glance_clone"]
VIP_RESOURCES: dict[str, str] = dict(_NAMES["names_vip_resources"])
DRAIN_ATTRIBUTE: str = _NAMES["names_drain_attribute"]
PING_CLONE_PREFIX: str = _NAMES["names_ping_clone_prefix"]
PING_PRIMITIVE_PREFIX: str = _NAMES["names_ping_primitive_prefix"]
PING_ATTRIBUTE_PREFIX: str = _NAMES["names_ping_attribute_prefix"]
GLANCE_API_PORT: int = int(_NAMES["names_glance_api_port"])


def ping_attribute(check: str) -> str:
    """The node attribute of connectivity check `check` (ha_resources_ping_checks[].name)."""
    return PING_ATTRIBUTE_PREFIX + check
