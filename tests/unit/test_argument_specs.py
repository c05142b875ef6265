"""Every role has meta/argument_specs.yml, and it agrees with defaults/main.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_run import ROOT

ROLES = sorted(p.name for p in (ROOT / "ansible" / "roles").iterdir() if p.is_dir())


def test_the_roles_are_there():
    assert ROLES == ["clients", "cluster", "endpoints", "glance_api", "ha_resources",
                     "lab_controller", "preflight"]


@pytest.mark.parametrize("role", ROLES)
def test_specs_and_defaults_agree(role):
    base = ROOT / "ansible" / "roles" / role
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults), "variables documented but without default, or the reverse"
    for name, option in options.items():
        assert name.startswith(role + "_"), f"{name} is not prefixed with the role name"
        assert option.get("description"), f"{name} has no description"
        assert "default" in option, f"{name}: the spec has no default"
        assert option["default"] == defaults[name], f"{name}: spec default differs from defaults"
        kind = option["type"]
        value = defaults[name]
        if isinstance(value, str) and "{{" in value:
            continue  # templated from the shared glance_ha_* inventory variables
        expected = {"str": str, "path": str, "int": int, "bool": bool, "list": list,
                    "dict": dict}[kind]
        assert value is None and not option.get("required") or isinstance(value, expected), \
            f"{name}: default {value!r} is not a {kind}"


@pytest.mark.parametrize("role", ROLES)
def test_internal_variables_live_in_vars_with_double_underscore(role):
    path = ROOT / "ansible" / "roles" / role / "vars" / "main.yml"
    if path.exists():
        for name in yaml.safe_load(path.read_text()) or {}:
            assert name.startswith(f"__{role}_"), name
