"""bench/context.py: the interleaving of reference and measured runs, and what each row gets."""
from __future__ import annotations

import pytest

from bench import context as bench_context
from bench.context import Context, Measured, Options
from bench.load import Item, LoadResult, Plan
from bench.rows import Target


class FakeLoad:
    """Stands in for bench.load: records each run and answers the req/s given per plan, in turn."""

    def __init__(self, rates: dict[str, list[float]]):
        self.rates = rates
        self.runs: list[tuple[str, float, int]] = []  # (plan, seconds, first item's index)

    def probe(self, plan: Plan) -> None:
        self.runs.append((f"probe {plan.name}", 0, int(plan.items[0].path.strip("/"))))

    def run(self, plan: Plan, seconds: float, generator: str, work_dir: str) -> LoadResult:
        self.runs.append((plan.name, seconds, int(plan.items[0].path.strip("/"))))
        rps = self.rates[plan.name].pop(0) if seconds > 1 else 10.0  # warm-ups: 1 s
        return LoadResult("fake", int(rps * seconds), seconds, p50_ms=rps / 100, p90_ms=0, p99_ms=rps / 10, max_ms=0,
                          paced=plan.rate is not None, late=1, lag_p99_ms=0.5, connections_opened=3,
                          connections_cap=plan.connections)


def _context(tmp_path, **options) -> Context:
    return Context(stack=None, seeder=None, database=None, options=Options(duration=2, warmup=1, **options),  # type: ignore[arg-type]
                   work_dir=tmp_path)


def _plan(name: str, once: bool = False, items: int = 1) -> Plan:
    return Plan(name, "http://127.0.0.1:1", "GET", tuple(Item(f"/{i}") for i in range(items)), 2, 200, once)


@pytest.fixture
def fake(monkeypatch):
    def install(rates):
        load = FakeLoad(rates)
        monkeypatch.setattr(bench_context.load, "probe", load.probe)
        monkeypatch.setattr(bench_context.load, "run", load.run)
        return load
    return install


def test_reference_runs_flank_every_path_and_ratios_use_the_neighbours(tmp_path, fake):
    load = fake({"ref": [100.0, 300.0, 200.0], "a": [100.0], "b": [50.0]})
    rows = _context(tmp_path).compare("ref (x) floor", _plan("ref"), [
        Measured("path a", _plan("a"), (Target("ratio", 0.5),)), Measured("path b", _plan("b"))])
    measured = [name for name, seconds, _ in load.runs if seconds == 2]
    assert measured == ["ref", "a", "ref", "b", "ref"]
    ref, a, b = rows
    assert ref.path == "ref (x) floor" and ref.rps == 200.0 and ref.runs_rps == (100.0, 300.0, 200.0)
    assert a.ratio == pytest.approx(100 / 200) and a.met is True  # (100 + 300) / 2 around it
    assert b.ratio == pytest.approx(50 / 250)  # (300 + 200) / 2
    assert a.reference is not None and a.reference.name == "ref (x)" and a.reference.spread == (100.0, 300.0)


def test_rounds_repeat_the_paths_and_take_medians(tmp_path, fake):
    fake({"ref": [100.0] * 4, "a": [40.0, 60.0, 80.0]})
    _ref, a = _context(tmp_path, rounds=3).compare("ref (x)", _plan("ref"), [Measured("a", _plan("a"))])
    assert a.rps == 60.0 and a.ratio == pytest.approx(0.6) and a.runs_rps == (40.0, 60.0, 80.0)


def test_once_plans_never_reuse_an_item_across_probe_warm_up_and_runs(tmp_path, fake):
    load = fake({"ref": [100.0, 100.0], "w": [5.0]})
    _context(tmp_path).compare("ref (x)", _plan("ref"), [Measured("w", _plan("w", once=True, items=100))])
    starts = [(name, first) for name, _s, first in load.runs if name.endswith("w")]
    # probe: item 0; warm-up from 1 (10 req/s × 1 s + 2 in flight); the run after those.
    assert starts == [("probe w", 0), ("w", 1), ("w", 13)]


def test_after_hooks_add_notes_to_their_row(tmp_path, fake):
    fake({"ref": [100.0, 100.0], "a": [50.0]})
    rows = _context(tmp_path).compare("ref (x)", _plan("ref"), [
        Measured("a", _plan("a"), after=lambda result: f"{result.requests} sent")])
    assert rows[1].notes == ("100 sent",)


def test_paced_rows_are_compared_by_p99_and_say_how_they_kept_the_schedule(tmp_path, fake):
    # The fake answers p99 = rate / 10: the reference's runs 4.0 and 6.0 ms, the path's 20.0 ms.
    load = fake({"ref-paced": [40.0, 60.0], "a-paced": [200.0]})
    ref, a = _context(tmp_path).compare("ref (x) floor, 50 req/s (paced)", _plan("ref").paced(50, 64),
                                        [Measured("a paced", _plan("a").paced(50, 64),
                                                  (Target("p99_ms", 30, at_most=True),))])
    assert [name for name, seconds, _ in load.runs if seconds == 2] == ["ref-paced", "a-paced", "ref-paced"]
    assert a.ratio is None and a.p99_ms == 20.0 and a.met is True
    assert a.reference is not None and a.reference.by == "p99" and a.reference.name == "ref (x) paced"
    assert a.reference.p99_ms == 5.0 and ref.runs_p99_ms == (4.0, 6.0) and ref.spread_by == "p99"
    assert "sent more than 10 ms after due: 1;" in a.notes[0] and "connections opened up to 3 of 64" in a.notes[0]
    assert "requests due over 2 run(s)" in ref.notes[0]


def test_paced_and_closed_loop_runs_are_never_compared(tmp_path, fake):
    fake({})
    with pytest.raises(ValueError, match="paced and closed-loop"):
        _context(tmp_path).compare("ref (x)", _plan("ref"), [Measured("a", _plan("a").paced(50, 64))])
