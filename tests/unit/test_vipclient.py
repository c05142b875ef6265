"""The VIP client's report: outage (from the fault) and gap (longest time without an answer)."""
from __future__ import annotations

import math

from glance_ha.vipclient import Attempt, Report


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
