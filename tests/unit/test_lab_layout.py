"""The lab package's floors: its modules import each other in one direction only, and the product
never imports the lab (the lab tests the product; it is not shipped with it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB_PKG = ROOT / "lab" / "glance_ha_lab"
PACKAGE = "glance_ha_lab"
PRODUCT = [ROOT / "glance_ha", ROOT / "ansible" / "plugins"]


def lab_modules() -> dict[str, Path]:
    """Every Python module of the lab package, by name; fence_lab too (a script without .py)."""
    modules = {p.stem: p for p in LAB_PKG.glob("*.py")}
    modules["fence_lab"] = LAB_PKG / "fence_lab"
    return modules


def imported(path: Path, package: str | None = None) -> set[str]:
    """Every module `path` imports, at any depth: an import inside a function counts as much as one
    at the top (a cycle hidden in a function is still a cycle). Relative imports are resolved in
    `package`, or left out when it is None (they cannot leave their own package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level and package is None:
                continue
            # (level 0 always names its module)
            base = ".".join(filter(None, [package, node.module])) if node.level else node.module or ""
            # `from pkg import name` may import the module pkg.name: both count
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def lab_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The lab modules `path` imports (the package's __init__, which every import runs, aside)."""
    return {name for dotted in imported(path, PACKAGE) if dotted.startswith(f"{PACKAGE}.")
            for name in [dotted.split(".")[1]] if name in modules and name != "__init__"}


def import_graph() -> dict[str, set[str]]:
    modules = lab_modules()
    return {name: lab_imports(path, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as [a, b, ..., a], or None (a depth-first walk)."""
    state: dict[str, str] = {}  # "open": on the current path; "done": no cycle goes through it

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_find_cycle_sees_a_cycle_and_invents_none():
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_imports_in_functions_and_relative_ones_are_seen(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from . import power\n\n\ndef f():\n"
                      "    from glance_ha_lab.hosts import up\n    import glance_ha_lab.bmc\n")
    assert lab_imports(module, {"power": module, "hosts": module, "bmc": module}) == {"power", "hosts", "bmc"}


def test_the_lab_modules_import_each_other_without_a_cycle():
    graph = import_graph()
    assert find_cycle(graph) is None, f"import cycle in {PACKAGE}: {' -> '.join(find_cycle(graph))}"


@pytest.mark.parametrize("module, floor", [
    # the floors this layout is for: each module stands on those below it, never on one above
    ("config", set()),
    ("shell", set()),
    ("bmc", {"config", "shell", "cgroups", "network", "power"}),
    ("fence_lab", set()),  # runs on the lab hosts, where this package is not installed
])
def test_a_module_imports_only_its_floors(module, floor):
    assert import_graph()[module] <= floor


def test_the_product_never_imports_the_lab():
    offenders = [f"{path.relative_to(ROOT)}: {name}" for top in PRODUCT for path in sorted(top.rglob("*.py"))
                 for name in sorted(imported(path)) if name == PACKAGE or name.startswith(f"{PACKAGE}.")]
    assert offenders == []
