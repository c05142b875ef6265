"""How the lab runs commands and reports: its log lines, subprocess.run as the lab calls it, and
the one-line error of its command-line tools (the lab's and the BMC's)."""

from __future__ import annotations

import subprocess
import sys
import time


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], check: bool = True, capture: bool = False, **kw) -> subprocess.CompletedProcess:
    if capture:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, check=check, text=True, **kw)


def cli_error(prog: str, e: Exception) -> int:
    """A lab command-line tool's answer to an error it expects: one line on stderr, exit 1."""
    if isinstance(e, subprocess.CalledProcessError):
        print(f"{prog}: command failed ({e.returncode}): {' '.join(map(str, e.cmd))}", file=sys.stderr)
    else:
        print(f"{prog}: {e}", file=sys.stderr)
    return 1
