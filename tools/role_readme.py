#!/usr/bin/env python3
"""Writes each role's README.md from its meta/argument_specs.yml (one heading per variable) and
the hand-written <role>/meta/README.intro.md (purpose, requirements, limitations, example); the
collection's roles are in ansible/roles, the lab's in lab/roles. `--check` exits 1 when a README
is stale (tests/unit/test_role_docs.py runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
ROLE_DIRS = (REPO / "ansible" / "roles", REPO / "lab" / "roles")


def render(role: Path) -> str:
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    intro = (role / "meta" / "README.intro.md").read_text().strip()
    lines = [f"# {role.name}", "", f"{spec['short_description']}.", "", intro, "",
             "## Variables", "",
             "Generated from `meta/argument_specs.yml` by `tools/role_readme.py`; the values",
             "are those of `defaults/main.yml`.", ""]
    for name, option in spec.get("options", {}).items():
        lines += [f"### `{name}`", ""]
        kind = option["type"] + (f" of {option['elements']}" if option.get("elements") else "")
        facts = [f"type: {kind}"]
        if option.get("choices"):
            facts.append("choices: " + ", ".join(f"`{c}`" for c in option["choices"]))
        if option.get("no_log"):
            facts.append("secret (vault it)")
        lines += ["; ".join(facts), "", " ".join(str(option["description"]).split()), ""]
        default = yaml.safe_dump(option.get("default"), default_flow_style=False,
                                 sort_keys=False).strip()
        if default.endswith("\n..."):
            default = default[:-4]
        lines += ["Default:", "", "```yaml", default, "```", ""]
        for sub, sub_option in (option.get("options") or {}).items():
            required = " (required)" if sub_option.get("required") else ""
            lines.append(f"- `{sub}`{required}: {' '.join(str(sub_option['description']).split())}")
        if option.get("options"):
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for role in sorted(p for d in ROLE_DIRS for p in d.iterdir() if p.is_dir()):
        text = render(role)
        readme = role / "README.md"
        if "--check" in argv:
            if not readme.exists() or readme.read_text() != text:
                stale.append(str(readme))
        else:
            readme.write_text(text)
    if stale:
        print("stale (run tools/role_readme.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
