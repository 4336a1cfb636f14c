"""bench/rows.py: targets against a row's figures, and the verdict of a row."""
from __future__ import annotations

from bench.rows import Figure, Reference, Row, Target


def test_at_least_and_at_most_targets():
    row = Row("p", rps=500, p99_ms=42.0, ratio=0.55)
    assert Target("ratio", 0.50).evaluate(row).met is True
    missed = Target("p99_ms", 30, at_most=True).evaluate(row)
    assert missed.met is False and missed.detail == "42.0 ms > 30.0 ms"
    assert Target("ratio", 0.70).evaluate(row).detail == "55% < 70%"
    assert Target("ratio", 0.70).evaluate(Row("p", ratio=0.6996)).detail == "69.96% < 70%"  # not "70% < 70%"


def test_a_row_meets_its_targets_only_when_all_are_met():
    targets = (Target("p99_ms", 30, at_most=True), Target("ratio", 0.5))
    assert Row("p", p99_ms=20, ratio=0.6, targets=targets).met is True
    assert Row("p", p99_ms=40, ratio=0.6, targets=targets).met is False
    assert Row("p", p99_ms=20, ratio=None, targets=targets).met is None  # not measured is not met
    assert Row("p", p99_ms=40, ratio=None, targets=targets).met is False  # but a miss is a miss
    assert Row("p").met is None


def test_rows_that_are_not_http_loads_use_their_figure_or_values():
    row = Row("fan-out", figure=Figure(27.4, "s"), values={"emails_not_once": 0},
              targets=(Target("figure_value", 30, at_most=True), Target("emails_not_once", 0, at_most=True)))
    assert row.met is True
    assert Row("fan-out", figure=Figure(94.0, "s"), targets=row.targets[:1]).met is False


def test_reference_median_and_spread():
    ref = Reference("ref (b)", (2000.0, 2200.0, 2100.0))
    assert ref.rps == 2100.0
    assert ref.spread == (2000.0, 2200.0)


def test_a_load_that_got_no_answer_misses_every_target():
    """A run with no successful request measures 0.0 ms: that is not a p99 under its target."""
    silent = Row(path="GET /api/ops/overview", rps=0.0, p50_ms=0.0, p99_ms=0.0)
    verdict = Target("p99_ms", 200.0, at_most=True).evaluate(silent)
    assert verdict.met is False and "no request" in verdict.detail
