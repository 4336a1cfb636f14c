"""bench/load.py: percentiles, and what makes a run suspect."""
from __future__ import annotations

from bench.load import Item, LoadResult, Plan, percentile


def test_percentile_is_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


def _result(**kw) -> LoadResult:
    return LoadResult(**{"generator": "python", "requests": 100, "seconds": 2.0, "p50_ms": 1.0, "p90_ms": 2.0,
                         "p99_ms": 3.0, "max_ms": 4.0, **kw})


def test_a_clean_run_has_no_problems():
    plan = Plan("p", "http://h:1", "GET", (Item("/x"),), 4, 200)
    assert _result().problems(plan) == []
    assert _result().rps == 50.0


def test_errors_wrong_statuses_and_reused_items_are_reported():
    plan = Plan("p", "http://h:1", "POST", (Item("/x"), Item("/y")), 4, 202, once=True)
    problems = _result(errors=2, unexpected=3, statuses={202: 97, 429: 3}).problems(plan)
    assert problems == ["2 socket errors or timeouts", "3 of 100 answers were not 202 (3×429)",
                        "98 requests re-sent an item already used (only 2 left unused)"]
    assert _result(items=150).problems(Plan("p", "http://h:1", "POST", (Item("/x"),), 4, 202, once=True)) == []


def test_slice_keeps_everything_but_the_items():
    plan = Plan("p", "http://h:1", "POST", (Item("/a"), Item("/b"), Item("/c")), 4, 200, once=True)
    part = plan.slice(1)
    assert [i.path for i in part.items] == ["/b", "/c"]
    assert (part.name, part.method, part.connections, part.expect, part.once) == ("p", "POST", 4, 200, True)
