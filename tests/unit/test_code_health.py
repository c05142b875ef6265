"""Code health, the same commands as `make lint` (mk/health.mk): ruff and mypy with their
configuration in pyproject.toml (which names the Python files without a .py suffix: the agents,
the lab's fence agent, the benchmarks), shellcheck on mk/health.mk's SHELL_SCRIPTS."""

from __future__ import annotations

import re
import shutil
import subprocess

from ansible_run import ROOT, VENV_BIN


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def shell_scripts() -> list[str]:
    """mk/health.mk's SHELL_SCRIPTS."""
    match = re.search(r"^SHELL_SCRIPTS := (.*)$", (ROOT / "mk" / "health.mk").read_text(), re.M)
    assert match, "mk/health.mk has no SHELL_SCRIPTS"
    return match.group(1).split()


def test_ruff():
    proc = run(str(VENV_BIN / "ruff"), "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy():
    proc = run(str(VENV_BIN / "mypy"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_shellcheck():
    assert shutil.which("shellcheck"), "shellcheck is missing (make host-deps installs it)"
    proc = run("shellcheck", *shell_scripts())
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_shell_script_is_shellchecked():
    tracked = run("git", "ls-files", "-z").stdout.split("\0")
    scripts = []
    for name in filter(None, tracked):
        path = ROOT / name
        if path.is_symlink() or not path.is_file():
            continue
        with open(path, "rb") as handle:
            first = handle.readline()
        if re.match(rb"#!\s*\S*(/|env\s+)(ba|da)?sh\b", first):
            scripts.append(name)
    assert scripts and sorted(scripts) == sorted(shell_scripts()), (
        "shell scripts in the tree: %s; mk/health.mk's SHELL_SCRIPTS: %s" % (scripts, shell_scripts()))
