"""Where the day-2 action plugins leave their reports for the `glance-ha` command: the JSON at
`dest`, the same report as text (what the command prints) at `dest` + ".txt"."""

from __future__ import annotations

import json


def write_report(dest: str, report: dict, text: str) -> None:
    """Write both files when `dest` is set (an empty dest: the playbook was run by hand)."""
    if not dest:
        return
    with open(dest, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    with open(dest + ".txt", "w", encoding="utf-8") as f:
        f.write(text.rstrip("\n") + "\n")
