"""`make tempest`: OpenStack's conformance suite for the image service, run on the lab controller
(Debian's tempest and glance-tempest-plugin, the workspace lab/roles/lab_tempest prepared) through
the VIPs, and judged here.

The run passes when Tempest ran at least one test, none failed, and none was skipped: a test that
cannot pass on the lab is excluded by lab/tempest/skips.txt (every release) or
lab/tempest/skips-<release>.txt (the lab's Debian release only), with its reason beside it. Before
the run, every entry must have a reason and match a test of the release's suite (a stale entry
would hide nothing, or something new). Prints Tempest's own summary, then the verdict.

    python -m glance_ha_lab.tempest [--regex R] [--concurrency N]
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from glance_ha_lab.config import REPO, debian_release, host_by_name
from glance_ha_lab.network import ssh_cmd

SKIP_DIR = REPO / "lab" / "tempest"
SKIPS = SKIP_DIR / "skips.txt"
WORKSPACE = "/var/lib/glance-ha-tempest"  # lab_tempest_dir
SUITE = r"^(tempest\.api\.image|glance_tempest_plugin)\."
# `{0} tempest.api.image.v2.test_images.ImagesTest.test_x[id-...,smoke] [1.234s] ... ok`
RESULT_LINE = re.compile(r"^\{\d+\} (?P<test>\S+(?: \(\S+\))?) (?:\[[\d.]+s\] )?\.\.\. "
                         r"(?P<result>ok|FAILED|SKIPPED: ?(?P<why>.*))$")
TOTALS = {"Passed": "passed", "Skipped": "skipped", "Expected Fail": "xfail",
          "Unexpected Success": "xpass", "Failed": "failed"}


class TempestError(Exception):
    """The suite or its skip list is not what it must be; the message says what."""


@dataclass(frozen=True)
class Skip:
    regex: str
    reason: str
    line: int
    source: str = "skips.txt"

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}"


@dataclass
class Summary:
    ran: int | None = None
    counts: dict[str, int] = field(default_factory=dict)
    failed_tests: list[str] = field(default_factory=list)
    skipped_tests: list[tuple[str, str]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


def skip_files(release: str) -> list[Path]:
    """The lists that apply on a release: the common one, then the release's own if it has one."""
    own = SKIP_DIR / f"skips-{release}.txt"
    return [SKIPS, own] if own.exists() else [SKIPS]


def read_skip_files(paths: list[Path]) -> tuple[list[Skip], str]:
    """Every entry of the lists, and the one exclude list (their texts joined) Tempest is given.
    An entry listed twice, in one list or across two, is refused."""
    texts = {p.name: p.read_text() for p in paths}
    skips = [s for name, text in texts.items() for s in read_skips(text, name)]
    seen: dict[str, Skip] = {}
    for s in skips:
        if s.regex in seen:
            raise TempestError(f"{s.where}: '{s.regex}' is already listed at {seen[s.regex].where}: keep one")
        seen[s.regex] = s
    return skips, "".join(f"# {name}\n{text.rstrip()}\n" for name, text in texts.items())


def read_skips(text: str, source: str = "skips.txt") -> list[Skip]:
    """The exclude list as stestr reads it (regex, then '#' and the reason); an entry without a
    reason, or whose regex does not compile, is refused."""
    skips, errors = [], []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        regex, _, reason = line.partition("#")
        regex, reason = regex.strip(), reason.strip()
        if not reason:
            errors.append(f"{source} line {n}: '{regex}' has no reason: add '# why it cannot pass here'")
            continue
        try:
            re.compile(regex)
        except re.error as e:
            errors.append(f"{source} line {n}: '{regex}' is not a regex ({e})")
            continue
        skips.append(Skip(regex, reason, n, source))
    if errors:
        raise TempestError("\n".join(errors))
    return skips


def excluded(test_id: str, skips: list[Skip]) -> bool:
    """Whether an entry excludes the test (stestr matches with re.search)."""
    return any(re.search(s.regex, test_id) for s in skips)


def stale_skips(skips: list[Skip], test_ids: list[str]) -> list[Skip]:
    """Entries that match no test of the suite."""
    return [s for s in skips if not any(excluded(t, [s]) for t in test_ids)]


def parse_output(lines: list[str]) -> Summary:
    """Tempest's per-test lines and its closing Totals block (the authority on the counts)."""
    s = Summary()
    in_totals = False
    for line in lines:
        m = RESULT_LINE.match(line.rstrip())
        if m:
            if m["result"] == "FAILED":
                s.failed_tests.append(m["test"])
            elif m["result"].startswith("SKIPPED"):
                s.skipped_tests.append((m["test"], m["why"] or ""))
            continue
        if line.strip() == "Totals":
            in_totals = True
        if not in_totals:
            continue
        s.text.append(line.rstrip())
        ran = re.match(r"^Ran: (\d+) tests?", line.strip())
        if ran:
            s.ran = int(ran[1])
        count = re.match(r"^- ([A-Za-z ]+): (\d+)$", line.strip())
        if count and count[1] in TOTALS:
            s.counts[TOTALS[count[1]]] = int(count[2])
        if line.startswith("Sum of execute time"):
            in_totals = False
    return s


def verdict(s: Summary) -> list[str]:
    """What is wrong with a run; empty when it passed."""
    if s.ran is None or set(TOTALS.values()) - set(s.counts):
        return ["Tempest printed no complete Totals block: the run did not finish"]
    problems = []
    if s.ran == 0 or s.counts["passed"] == 0:
        problems.append("Tempest ran no test: check the regex and the workspace")
    if s.counts["failed"] or s.counts["xpass"]:
        problems.append(f"{s.counts['failed']} failed, {s.counts['xpass']} unexpectedly passed: "
                        + ", ".join(s.failed_tests or ["(see the output above)"]))
    if s.counts["skipped"]:
        problems.append(f"{s.counts['skipped']} skipped by Tempest itself; exclude each in "
                        "lab/tempest/skips.txt (or skips-<release>.txt) with the reason, or give the lab "
                        "what it lacks: "
                        + "; ".join(f"{t}: {why}" for t, why in s.skipped_tests))
    return problems


def controller_cmd(script: str) -> list[str]:
    """ssh runs its arguments joined by spaces through the remote shell: one quoted word keeps
    the script whole."""
    return ssh_cmd(host_by_name("controller"), shlex.join(["bash", "-c", script]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regex", default=SUITE, help="the tests to run (default: the image API and the glance plugin)")
    ap.add_argument("--concurrency", type=int, default=2)
    a = ap.parse_args(argv)
    try:
        release = debian_release()
        lists = skip_files(release)
        skips, skip_text = read_skip_files(lists)
        list_cmd = f"cd {WORKSPACE} && tempest run --list-tests --regex {shlex.quote(a.regex)}"
        listed = subprocess.run(controller_cmd(list_cmd), capture_output=True, text=True)
        if listed.returncode:
            raise TempestError(f"tempest run --list-tests failed (rc {listed.returncode}): "
                               f"{listed.stderr.strip()[-500:]}; is the lab deployed (make lab)?")
        test_ids = [t for t in listed.stdout.split() if re.match(a.regex, t)]
        if not test_ids:
            raise TempestError(f"no test matches {a.regex!r}: are tempest and glance-tempest-plugin installed?")
        if a.regex == SUITE:
            stale = stale_skips(skips, test_ids)
            if stale:
                raise TempestError("; ".join(f"{s.where}: '{s.regex}' matches no test of {release}'s suite: "
                                             "remove it (or move it to the list of the release it "
                                             "applies to)" for s in stale))
        # the committed list, not the one the last deploy installed: an edit counts at once
        sent = subprocess.run(controller_cmd(f"cat > {WORKSPACE}/etc/skips.txt"), input=skip_text,
                              capture_output=True, text=True)
        if sent.returncode:
            raise TempestError(f"could not write the skip list to the controller: {sent.stderr.strip()[-300:]}")
        n_excluded = sum(excluded(t, skips) for t in test_ids)
        print(f"tempest: Debian {release}: {len(test_ids)} tests, {n_excluded} excluded by "
              f"{' + '.join(p.name for p in lists)} ({len(skips)} entries), concurrency {a.concurrency}",
              flush=True)
        proc = subprocess.Popen(
            controller_cmd(f"cd {WORKSPACE} && tempest run --regex {shlex.quote(a.regex)} "
                           f"--exclude-list etc/skips.txt --concurrency {a.concurrency} 2>&1"),
            stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if RESULT_LINE.match(line.rstrip()):
                print(line, end="", flush=True)
        rc = proc.wait()
        summary = parse_output(lines)
        print("\n".join(summary.text) if summary.text else "".join(lines[-40:]))
        problems = verdict(summary)
        if rc and not problems:
            problems.append(f"tempest exited {rc}")
    except TempestError as e:
        print(f"tempest: {e}", file=sys.stderr)
        return 2
    if problems:
        print("tempest: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"tempest: passed ({summary.counts['passed']} passed, {n_excluded} excluded with reasons)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
