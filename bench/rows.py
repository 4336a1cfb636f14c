"""What a scenario hands back to the table: rows, each with its figures, its reference and the
targets it is judged by. HTTP loads and other measurements (P3 fan-out, P5 scale) share it.

Adding a scenario
-----------------
A scenario is a `Scenario(name, summary, measure, in_quick)` in `bench/scenarios.py`'s
`SCENARIOS`; `--only NAME[,NAME...]` picks some, `--quick` keeps those with `in_quick`.
`measure(ctx)` gets a `bench.context.Context` and returns its rows. From the context it can use:

- `ctx.stack`: the processes it needs, started on first use on 127.0.0.1 and free ports, and all
  stopped at the end (`ctx.stack.web()`, `.worker()`, `.moto()`, `.reference(kind)`, `.keep(...)`);
- `ctx.data`: what `bench/seed.py` put in the database (teachers, tokens, jobs, canaries; seeded
  on first use), and `ctx.database` (its URL, kind and version);
- `ctx.compare(reference, [Measured, ...])`: HTTP loads interleaved with their reference (ref,
  path, ref, path, ref), each `Row` filled in with its ratio and the reference's spread; with
  paced plans (`plan.paced(rate, connections)`: open loop, bench/pyload.py) the rows are
  compared by p99 instead (no ratio; the reference cell shows the reference's p99);
- `ctx.measure(label, plan)`: one run of a plan (probe, warm-up, run), for a scenario that builds
  its rows itself (bench/scale.py);
- `ctx.options`: duration, warm-up, connections, rounds, quick; `ctx.note(text)` adds a line
  under the table, `ctx.setting(text)` one to "settings used".

A row that is not an HTTP load leaves `rps`, `p50_ms` and `p99_ms` empty and sets `figure` (e.g.
`Figure(27.4, "s")`, shown in the req/s column); a target reads any numeric attribute of the row
(`ratio`, `p99_ms`, `figure_value`, ...) or of its `values`, so "P3 ≤ 30 s" is
`Target("figure_value", 30, at_most=True, label="≤ 30 s")`, "each email once" is a count of
misses in `values` that must be at most 0, and a P5 row puts p99 / p99-at-10^3-rows in `ratio`
with an at-most target and `Reference(..., by="p99")` for its small-size figure.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from statistics import median
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.context import Context


@dataclass(frozen=True)
class Figure:
    """A measurement that is not req/s: seconds to the last summary, rows per second, ..."""

    value: float
    unit: str


@dataclass(frozen=True)
class Reference:
    """What a row is compared with: a reference app's name and the req/s and p99 of each of its
    runs in this benchmark (all of them, so the table can show the spread). `by` is the figure the
    comparison is about: "rps" (a throughput ratio), or "p99" (paced rows, whose req/s is the rate
    they were sent at; P5 rows, compared with the same path at 10^3 rows)."""

    name: str
    runs_rps: tuple[float, ...]
    runs_p99_ms: tuple[float, ...] = ()
    by: str = "rps"

    @property
    def rps(self) -> float:
        return median(self.runs_rps)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.runs_rps), max(self.runs_rps)

    @property
    def p99_ms(self) -> float | None:
        return median(self.runs_p99_ms) if self.runs_p99_ms else None


@dataclass(frozen=True)
class Verdict:
    met: bool | None  # None: the figure it needs was not measured
    detail: str


@dataclass(frozen=True)
class Target:
    """`metric` (a numeric attribute of the row) must be at least `limit`, or at most it."""

    metric: str
    limit: float
    at_most: bool = False
    label: str = ""

    def evaluate(self, row: Row) -> Verdict:
        value = row.value(self.metric)
        if value is None:
            return Verdict(None, f"{self.metric} not measured")
        if row.rps == 0:
            # A load that got no answer has a p99 of 0.0 ms, which would read as met.
            return Verdict(False, "no request answered")
        met = value <= self.limit if self.at_most else value >= self.limit
        if met:
            return Verdict(True, "")
        unit = f" {row.figure.unit}" if self.metric == "figure_value" and row.figure is not None else ""
        shown = _show(self.metric, value, self.limit) + unit, _show(self.metric, self.limit) + unit
        return Verdict(False, f"{shown[0]} {'>' if self.at_most else '<'} {shown[1]}")

    def describe(self) -> str:
        return self.label or f"{self.metric} {'≤' if self.at_most else '≥'} {_show(self.metric, self.limit)}"


def _show(metric: str, value: float, limit: float | None = None) -> str:
    """`value` as the table shows it; given the `limit` it missed, with as many digits as it takes
    not to read like the limit (never "70% < 70%")."""
    percent, first = ("%", 0) if metric == "ratio" else ("f", 1)
    unit = " ms" if metric.endswith("_ms") else ""
    if metric != "ratio" and not unit:
        return f"{value:g}"
    for digits in range(first, first + 4):
        text = f"{value:.{digits}{percent}}"
        if limit is None or text != f"{limit:.{digits}{percent}}":
            break
    return text + unit


@dataclass(frozen=True)
class Row:
    path: str
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    reference: Reference | None = None
    ratio: float | None = None
    figure: Figure | None = None
    runs_rps: tuple[float, ...] = ()  # req/s of each run, for the spread of a reference's own row
    runs_p99_ms: tuple[float, ...] = ()  # and p99 of each run: the spread a paced reference shows
    spread_by: str = "rps"  # which of the two spreads its reference cell shows
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = ()
    # Other numbers a target can read, e.g. {"emails_not_once": 0} for P3.
    values: Mapping[str, float] = field(default_factory=dict)

    @property
    def figure_value(self) -> float | None:
        return None if self.figure is None else self.figure.value

    def value(self, metric: str) -> float | None:
        if metric in self.values:
            return self.values[metric]
        return getattr(self, metric)

    def verdicts(self) -> list[Verdict]:
        return [target.evaluate(self) for target in self.targets]

    @property
    def met(self) -> bool | None:
        """True when every target is met, False when one is missed, None without targets or
        when a figure a target needs is missing."""
        verdicts = self.verdicts()
        if not verdicts:
            return None
        if any(v.met is False for v in verdicts):
            return False
        return None if any(v.met is None for v in verdicts) else True


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    measure: Callable[[Context], list[Row]]
    in_quick: bool = True
