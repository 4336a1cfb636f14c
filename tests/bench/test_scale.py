"""bench/scale.py (P5): a row is its p99 with the big database over the small one, read
against the control. No timing."""
from __future__ import annotations

import pytest

from bench import scale, table
from bench.context import Options
from bench.load import LoadResult
from bench.seed import Seeded, Teacher


def _result(p99: float, rps: float = 100.0) -> LoadResult:
    return LoadResult("wrk", int(rps * 6), 6.0, p50_ms=p99 / 4, p90_ms=p99 / 2, p99_ms=p99, max_ms=p99 * 2)


def test_each_row_is_its_p99_with_the_big_database_over_the_small_one_read_against_the_control():
    world = scale.World(Seeded((Teacher(1, 1, "t"),), (("00000000-0000-0000-0000-000000000001", "t"),), (), ()),
                        2, "s", ("c",), "c", (3,))
    measured = scale.paths(world, "sqlite:///unused", 32)[:3]  # the control, the poll, the list
    results = {"small": {measured[0].label: [_result(10.0)], measured[1].label: [_result(20.0)],
                         measured[2].label: [_result(40.0), _result(80.0), _result(50.0)]},
               "big": {measured[0].label: [_result(12.0)], measured[1].label: [_result(60.0)],
                       measured[2].label: [_result(55.0), _result(60.0), _result(900.0)]}}
    grown = {"small": {"jobs": 1_000, "notifications": 1_000, "own": 50, "load_seconds": 1.0, "analyze_seconds": 0.1,
                       "stopped": 0.0},
             "big": {"jobs": 1_000_000, "notifications": 100_000, "own": 10_000, "load_seconds": 60.0,
                     "analyze_seconds": 2.0, "stopped": 0.0}}
    load, control, poll, jobs = scale._rows(measured, results, grown, scale.BIG, "postgresql", Options(duration=6))
    assert load.figure is not None and load.figure.value == 60.0 and load.path.startswith("P5 bulk load to 1,000,000")
    assert control.ratio == pytest.approx(1.2) and control.targets == () and control.notes == ()
    assert poll.path == "P5 GET /api/jobs/<id> (poll), 10^6 jobs" and poll.p99_ms == 60.0
    assert poll.ratio == pytest.approx(3.0) and poll.met is False and poll.notes == ("÷ the control's 120%: 250%",)
    assert poll.reference is not None and table.reference_cell(poll) == "at 1,000 jobs: p99 20.0 ms"
    assert jobs.ratio == pytest.approx(60 / 50) and jobs.met is True  # the medians of three runs each
