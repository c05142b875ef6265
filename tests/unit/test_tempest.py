"""The Tempest runner's judgement (lab/glance_ha_lab/tempest.py): the skip list's rules and how a
run's output is read. The run itself is `make tempest`, against the lab."""

from __future__ import annotations

import re

import pytest

from glance_ha_lab import tempest
from glance_ha_lab.config import RELEASES

TOTALS = """
======
Totals
======
Ran: {ran} tests in 412.0000 sec.
 - Passed: {passed}
 - Skipped: {skipped}
 - Expected Fail: 0
 - Unexpected Success: 0
 - Failed: {failed}
Sum of execute time for each test: 600.1234 sec.
"""
OK = "{0} tempest.api.image.v2.test_images.ImagesTest.test_list[id-1,smoke] [1.234s] ... ok"
FAIL = "{1} tempest.api.image.v2.test_images.ImagesTest.test_web[id-2] [20.5s] ... FAILED"
SKIP = ("{0} setUpClass (glance_tempest_plugin.tests.rbac.v2.test_project_reader_tests.ReaderTest) "
        "... SKIPPED: enforce_scope is not enabled for glance, skipping RBAC tests")


def run_output(*lines: str, ran=2, passed=2, skipped=0, failed=0) -> list[str]:
    return [*lines, *TOTALS.format(ran=ran, passed=passed, skipped=skipped, failed=failed).splitlines(True)]


@pytest.mark.parametrize("release", RELEASES)
def test_the_committed_skip_lists_are_valid_and_every_entry_has_a_reason(release):
    skips, text = tempest.read_skip_files(tempest.skip_files(release))
    assert skips and all(s.reason for s in skips)
    # what Tempest is given is what was checked: the same entries, in the same order
    assert [s.regex for s in tempest.read_skips(text)] == [s.regex for s in skips]


def test_a_release_adds_its_own_list_to_the_common_one():
    assert tempest.skip_files("bookworm") == [tempest.SKIPS, tempest.SKIP_DIR / "skips-bookworm.txt"]
    assert tempest.skip_files("nosuch") == [tempest.SKIPS]


def test_an_entry_listed_twice_is_refused_naming_both_places(tmp_path):
    (tmp_path / "skips.txt").write_text("a\\.b  # why\n")
    (tmp_path / "skips-x.txt").write_text("# header\nc  # other\na\\.b  # again\n")
    with pytest.raises(tempest.TempestError,
                       match=r"skips-x.txt line 3: 'a\\.b' is already listed at skips.txt line 1"):
        tempest.read_skip_files([tmp_path / "skips.txt", tmp_path / "skips-x.txt"])


def test_an_entry_without_a_reason_or_with_a_broken_regex_is_refused():
    with pytest.raises(tempest.TempestError, match=r"line 2: 'a\\.b' has no reason"):
        tempest.read_skips("# header\na\\.b\n")
    with pytest.raises(tempest.TempestError, match="line 1: 'a\\(' is not a regex"):
        tempest.read_skips("a(  # unbalanced\n")
    assert tempest.read_skips("x\\.y  # why\n") == [tempest.Skip("x\\.y", "why", 1)]
    with pytest.raises(tempest.TempestError, match="skips-trixie.txt line 1: 'z' has no reason"):
        tempest.read_skips("z\n", "skips-trixie.txt")


def test_an_entry_matching_no_test_is_stale():
    skips = tempest.read_skips("test_web  # no web\ntest_gone  # removed upstream\n")
    ids = ["tempest.api.image.v2.test_images.ImagesTest.test_web[id-2]"]
    assert [s.regex for s in tempest.stale_skips(skips, ids)] == ["test_gone"]


def test_a_clean_run_passes():
    s = tempest.parse_output(run_output(OK, OK))
    assert (s.ran, s.counts["passed"], s.counts["failed"]) == (2, 2, 0)
    assert tempest.verdict(s) == []


def test_a_failure_fails_the_run_and_is_named():
    s = tempest.parse_output(run_output(OK, FAIL, passed=1, failed=1))
    problems = tempest.verdict(s)
    assert len(problems) == 1 and "1 failed" in problems[0] and "ImagesTest.test_web[id-2]" in problems[0]


def test_a_skip_tempest_made_itself_fails_the_run_with_its_reason():
    s = tempest.parse_output(run_output(OK, SKIP, ran=2, passed=1, skipped=1))
    problems = tempest.verdict(s)
    assert len(problems) == 1 and "skips.txt" in problems[0]
    assert "ReaderTest" in problems[0] and "enforce_scope is not enabled" in problems[0]


def test_a_run_cut_short_is_not_read_as_a_pass():
    # the per-test lines were all ok, but no Totals block came: the run did not finish
    assert tempest.verdict(tempest.parse_output([OK, OK])) != []
    # a Totals block that lost its last lines
    cut = run_output(OK)[:-3]
    assert tempest.verdict(tempest.parse_output(cut)) != []


def test_a_run_of_nothing_fails():
    assert tempest.verdict(tempest.parse_output(run_output(ran=0, passed=0))) != []


def test_the_result_line_pattern_reads_tempests_lines():
    for line, result in ((OK, "ok"), (FAIL, "FAILED"), (SKIP, "SKIPPED")):
        m = tempest.RESULT_LINE.match(line)
        assert m and m["result"].startswith(result)
    assert re.match(tempest.SUITE, "glance_tempest_plugin.tests.rbac.v2.test_x.T.test_y")
    assert not re.match(tempest.SUITE, "tempest.api.compute.servers.test_x")
