"""Every role has meta/argument_specs.yml, and it agrees with defaults/main.yml."""

from __future__ import annotations

import pytest
import yaml

from ansible_run import ROOT

# the collection's roles, and the lab's (lab_controller)
ROLE_PATHS = {p.name: p for d in (ROOT / "ansible" / "roles", ROOT / "lab" / "roles")
              for p in d.iterdir() if p.is_dir()}
ROLES = sorted(ROLE_PATHS)


def test_the_roles_are_there():
    assert sorted((ROOT / "ansible" / "roles").iterdir()) == [
        ROOT / "ansible" / "roles" / r for r in ("clients", "cluster", "endpoints", "glance_api",
                                                 "ha_resources", "names", "preflight")]
    assert sorted(p.name for p in (ROOT / "lab" / "roles").iterdir()) == ["lab_controller", "lab_tempest"]


@pytest.mark.parametrize("role", ROLES)
def test_specs_and_defaults_agree(role):
    base = ROLE_PATHS[role]
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
    path = ROLE_PATHS[role] / "vars" / "main.yml"
    if path.exists():
        for name in yaml.safe_load(path.read_text()) or {}:
            # the names role's constants are its public interface (read by every other role)
            assert name.startswith(f"__{role}_" if role != "names" else "names_"), name
