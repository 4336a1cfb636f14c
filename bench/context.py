"""What a scenario works with (see bench/rows.py for the interface), and `compare`: measured
paths interleaved with their reference (ref, path, ref, path, ..., ref), so each ratio divides a
run by the reference runs just before and after it, made under the same background load."""
from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median

from bench import load
from bench.database import Database
from bench.load import LoadResult, Plan
from bench.pyload import LATE_MS
from bench.rows import Reference, Row, Target
from bench.seed import Seeded
from bench.stack import Stack


@dataclass(frozen=True)
class Options:
    duration: float = 12.0
    warmup: float = 2.0
    connections: int = 32
    rounds: int = 1
    quick: bool = False
    generator: str = "wrk"
    database_url: str | None = None  # the PostgreSQL server given (--database-url); None: SQLite
    paced_rate: float = 50.0  # requests a second of the paced (open-loop) rows
    paced_connections: int = 256  # the most connections a paced run may open


@dataclass(frozen=True)
class Measured:
    """A path to load, compared with a reference. `during(seconds)` wraps its run (e.g. pausing
    SQS part of the way); `after(result)` runs after each run and may return a note."""

    label: str
    plan: Plan
    targets: tuple[Target, ...] = ()
    during: Callable[[float], AbstractContextManager[object]] | None = None
    after: Callable[[LoadResult], str | None] | None = None


@dataclass
class Context:
    stack: Stack
    seeder: Callable[[], Seeded]  # run on first use of `data`: a run of non-HTTP rows seeds nothing
    database: Database
    options: Options
    work_dir: Path
    notes: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)
    suspect: bool = False  # a run had errors or wrong statuses: the servers' logs are worth keeping
    _cursor: dict[str, int] = field(default_factory=dict)
    _data: Seeded | None = None

    @property
    def data(self) -> Seeded:
        if self._data is None:
            print("  seeding teachers, tokens, jobs to poll and canary jobs ...", file=sys.stderr, flush=True)
            self._data = self.seeder()
        return self._data

    def note(self, text: str) -> None:
        self.notes.append(text)

    def setting(self, text: str) -> None:
        if text not in self.settings:
            self.settings.append(text)

    def load(self, plan: Plan, during: Callable[[float], AbstractContextManager[object]] | None = None) -> LoadResult:
        """Probe, warm up, then measure one plan for `options.duration` seconds. A `once` plan moves
        on through its items, so no run re-sends an item an earlier run (or warm-up) used."""
        load.probe(self._take(plan, 1))
        if self.options.warmup > 0:
            self._advance(plan, load.run(self._rest(plan), self.options.warmup, self.options.generator, str(self.work_dir)))
        with (during or (lambda _s: nullcontext()))(self.options.duration):
            result = load.run(self._rest(plan), self.options.duration, self.options.generator, str(self.work_dir))
        self._advance(plan, result)
        return result

    def _take(self, plan: Plan, count: int) -> Plan:
        if not plan.once:
            return plan
        taken = self._rest(plan).slice(0, count)
        self._cursor[plan.name] += count
        return taken

    def _rest(self, plan: Plan) -> Plan:
        if not plan.once:
            return plan
        start = self._cursor.setdefault(plan.name, 0)
        if start >= len(plan.items):
            raise load.LoadError(f"{plan.name}: all {len(plan.items)} prepared items are used up")
        return plan.slice(start)

    def _advance(self, plan: Plan, result: LoadResult) -> None:
        if plan.once:
            # Requests still in flight when the run ended were sent but not counted.
            self._cursor[plan.name] = min(len(plan.items), self._cursor[plan.name] + result.requests + plan.connections)

    def compare(self, reference_label: str, reference: Plan, paths: list[Measured]) -> list[Row]:
        """The reference's row, then one row per path, from interleaved runs. With a paced
        reference (open loop, a `rate`) every run sends the same requests a second, so there is no
        throughput ratio: the rows are compared by p99, and the reference cell shows its p99."""
        paced = reference.rate is not None
        if any((m.plan.rate is not None) != paced for m in paths):
            raise ValueError(f"{reference_label}: paced and closed-loop runs cannot be compared with each other")
        ref_runs = [self.measure(reference_label, reference)]
        path_runs: dict[str, list[tuple[LoadResult, float]]] = {m.label: [] for m in paths}
        path_notes: dict[str, list[str]] = {m.label: [] for m in paths}
        for _round in range(self.options.rounds):
            for m in paths:
                result = self.measure(m.label, m.plan, m.during)
                path_notes[m.label] += result.problems(m.plan)
                if m.after is not None and (text := m.after(result)):
                    path_notes[m.label].append(text)
                ref_runs.append(self.measure(reference_label, reference))
                flanking = mean([ref_runs[-2].rps, ref_runs[-1].rps])
                path_runs[m.label].append((result, result.rps / flanking if flanking else 0.0))
        short = " ".join(reference_label.split(" ", 2)[:2]) + (" paced" if paced else "")
        ref = Reference(short, tuple(r.rps for r in ref_runs), tuple(r.p99_ms for r in ref_runs),
                        by="p99" if paced else "rps")
        ref_notes = sorted({p for r in ref_runs for p in r.problems(reference)})
        rows = [_row(reference_label, ref_runs, ref_notes + _paced_notes(ref_runs))]
        for m in paths:
            runs = path_runs[m.label]
            results = [r for r, _ in runs]
            row = _row(m.label, results, path_notes[m.label] + _paced_notes(results))
            rows.append(dataclasses.replace(row, reference=ref, targets=m.targets,
                                            ratio=None if paced else median(x for _, x in runs)))
        return rows

    def measure(self, label: str, plan: Plan, during: Callable[[float], AbstractContextManager[object]] | None = None) -> LoadResult:
        """One run of `plan` (probe, warm-up, run), printed as it ends; a run with problems marks
        the benchmark suspect (its servers' logs are kept)."""
        result = self.load(plan, during)
        problems = result.problems(plan)
        self.suspect = self.suspect or bool(problems)
        print(f"  {label:<44} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms"
              f"{'  [' + '; '.join(problems) + ']' if problems else ''}", file=sys.stderr, flush=True)
        return result


def _row(label: str, runs: list[LoadResult], notes: list[str]) -> Row:
    return Row(path=label, rps=median(r.rps for r in runs), p50_ms=median(r.p50_ms for r in runs),
               p99_ms=median(r.p99_ms for r in runs), runs_rps=tuple(r.rps for r in runs),
               runs_p99_ms=tuple(r.p99_ms for r in runs), spread_by="p99" if runs[0].paced else "rps",
               notes=tuple(dict.fromkeys(notes)))


def _paced_notes(runs: list[LoadResult]) -> list[str]:
    """How well a row's paced runs kept their schedule: a request sent late still counts its wait,
    but many late ones say the generator (or the connection cap) was part of what was measured."""
    if not runs or not runs[0].paced:
        return []
    due = sum(r.requests + r.errors for r in runs)
    late = sum(r.late for r in runs)
    opened, cap = max(r.connections_opened for r in runs), runs[0].connections_cap
    return [(f"open loop: {due:,} requests due over {len(runs)} run(s); sent more than {LATE_MS:g} ms after due: "
             f"{late:,}; send lag p99 up to {max(r.lag_p99_ms for r in runs):.1f} ms (counted in the latency); "
             f"connections opened up to {opened} of {cap}")]
