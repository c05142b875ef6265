"""The VIP client's report: outage (from the fault) and gap (longest time without an answer)."""
from __future__ import annotations

import math

import pytest

from glance_ha_lab.vipclient import Attempt, Report, VipClient


def attempts(*spec):
    """(start, end, ok) triples -> list attempts"""
    return [Attempt("list", s, e, ok) for s, e, ok in spec]


def test_no_failure_means_no_outage_and_a_short_gap():
    rep = Report(10.0, attempts((9.9, 9.95, True), (10.0, 10.05, True), (10.1, 10.15, True)))
    assert rep.outage() == 0.0
    assert math.isclose(rep.gap(), 0.1)


def test_planned_move_counts_from_the_last_answer_not_from_the_command():
    # the command at 10.0; answers until 10.7, a reset at 10.75, the retry answered at 11.3
    rep = Report(10.0, attempts((10.6, 10.7, True), (10.7, 10.75, False), (11.25, 11.3, True),
                                (11.3, 11.35, True)))
    assert math.isclose(rep.outage(), 1.3)
    assert math.isclose(rep.gap(), 0.6)


def test_a_request_left_hanging_shows_in_the_gap_even_without_a_failure():
    rep = Report(10.0, attempts((9.9, 10.0, True), (10.0, 15.0, True), (15.0, 15.1, True)))
    assert rep.outage() == 0.0
    assert math.isclose(rep.gap(), 5.0)


def test_no_answer_after_the_fault_is_an_infinite_outage_and_gap():
    rep = Report(10.0, attempts((9.9, 10.0, True), (10.0, 10.5, False)))
    assert rep.outage() == math.inf and rep.gap() == math.inf


def test_combined_reports_keep_each_kind_and_sum_the_failed_requests():
    lists = Report(10.0, attempts((10.1, 10.2, False), (10.9, 11.0, True)), failed_requests=1)
    downloads = Report(10.0, [Attempt("download", 10.05, 10.3, False), Attempt("download", 11.2, 11.6, True)], 2)
    both = Report.combine(lists, downloads)
    assert [a.start for a in both.attempts] == [10.05, 10.1, 10.9, 11.2]
    assert math.isclose(both.outage("list"), 1.0) and math.isclose(both.outage("download"), 1.6)
    assert both.failed_requests == 3


def test_combining_reports_of_different_faults_is_refused():
    with pytest.raises(ValueError):
        Report.combine(Report(10.0), Report(11.0))


@pytest.mark.parametrize("kw", [dict(kinds=()), dict(kinds=("upload",)), dict(kinds=("download",), image_id=None)])
def test_a_client_refuses_kinds_it_cannot_run(kw):
    args = dict(image_id="i", sha256="s")
    args.update(kw)
    with pytest.raises(ValueError):
        VipClient("198.51.100.10", "token", **args)


def test_a_client_runs_only_the_kinds_asked_for():
    assert VipClient("198.51.100.10", "t", "i", "s", kinds=("download",)).kinds == ("download",)
    assert VipClient("198.51.100.10", "t", "i", "s").kinds == ("list", "download")
    assert VipClient("198.51.100.10", "t").kinds == ("list",)
