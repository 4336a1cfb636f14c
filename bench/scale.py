"""P5 of issue 10: the hot paths' p99 with a big database, against the same paths on the same
database while it was small. Each path (poll, enqueue, both JSON lists and both list pages) is
loaded with wrk at 10^3 job rows; then the bulk loader (tests/support/bulk.py: INSERT ... SELECT
over a number series, inside the database) adds rows up to 10^6 jobs and 10^5 notifications for
one student, ANALYZE runs, and every path is loaded again. A row's ratio is its p99 there over
its p99 here; the target is at most 1.5×.

It runs on a database and servers of its own (dropped and stopped at the end), so none of the
other scenarios' rows (thousands of queued canaries) blur its "10^3 rows". The jobs are spread
over OWNERS owners; each measured teacher owns 1% of them at 10^6 (10^4, a busy teacher's
years), at least OWN_AT_LEAST at 10^3 so their first page is full at both sizes, a fifth of it
as the email chunks of finished fan-out batches (which the lists must skip). The student's inbox
is the 10^5 notifications. Reference (b), one SELECT by primary key, is loaded at both sizes as
a control: its ratio says how much the machine itself changed between the two measurements.
Who the rows' users are and how the database grows to each size: bench/scale_world.py.

Then, on the big database, the operations console's rows (bench/console.py): each console page
and GET endpoint as an operator calls it, judged by its own p99 (≤ 200 ms, issue 11).
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from werkzeug.routing import MapAdapter

from bench import console
from bench.context import Context
from bench.database import Database, throwaway
from bench.load import Item, LoadResult, Plan
from bench.processes import ProcessGroup
from bench.rows import Figure, Reference, Row, Target
from bench.scale_world import (
    BIG,
    CHILD_SHARE,
    LOAD_BUDGET,
    OWNERS,
    QUICK_BIG,
    SMALL,
    Size,
    World,
    analyze,
    count_rows,
    grow,
    power,
    seed_world,
)
from bench.seed import settle_enqueued
from bench.stack import Stack
from core.db import make_engine

SECONDS, WARMUP = 6.0, 1.0  # per run: the scenario loads 14 runs; shorter ones are enough for a p99
GROWTH_LIMIT = 1.5
DRAIN_SECONDS = 35.0  # the enqueues still in the web tier when a run ends are in by then (wrk's timeout)
JSON = ("Content-Type", "application/json")


@dataclass(frozen=True)
class ScalePath:
    label: str
    plan: Plan  # its base_url is filled in when it runs: the control's server is restarted each time
    server: str = "web"  # or "ref-select"
    after: Callable[[LoadResult], None] | None = None
    target: bool = True  # False: the control, shown without a target


def paths(world: World, database_url: str, connections: int,
          empty_queue: Callable[[], int] = lambda: 0) -> list[ScalePath]:
    """What is loaded at each size, in order: the control first, enqueue last, so the lists at
    10^3 rows are measured before it adds rows of its own. `empty_queue` (Stack.empty_queue)
    runs after each enqueue run: no worker takes those messages, and moto's cost of a deep queue
    (with the web tier's senders still sending into it) would fall on the next rows."""
    c = connections
    teachers = world.seeded.teachers
    bearer = [("Authorization", f"Bearer {t.token}") for t in teachers]
    student = ("Authorization", f"Bearer {world.student_token}")
    body = json.dumps({"title": "Scale activity {seq}", "description": "Published by make bench."})

    def settle(_result: LoadResult) -> None:
        # Requests wrk sent before it stopped are still being answered (on SQLite some wait for
        # the write lock): settle until they are all in, or the next load would count their rows.
        deadline, quiet = time.monotonic() + DRAIN_SECONDS, 0
        while quiet < 2 and time.monotonic() < deadline:  # two quiet seconds in a row
            quiet = quiet + 1 if settle_enqueued(database_url) == 0 else 0
            time.sleep(1.0)
        empty_queue()

    return [
        ScalePath("ref (b) 1 SELECT by id (control)", Plan("scale-ref-select", "", "GET", tuple(
            Item(f"/jobs/{job_id}") for job_id, _ in world.seeded.poll_jobs), c, 200), "ref-select", target=False),
        ScalePath("GET /api/jobs/<id> (poll)", Plan("scale-poll", "", "GET", tuple(
            Item(f"/api/jobs/{job_id}", (("Authorization", f"Bearer {token}"),))
            for job_id, token in world.seeded.poll_jobs), c, 200)),
        ScalePath("GET /api/jobs (teacher's list)", Plan("scale-api-jobs", "", "GET", tuple(
            Item("/api/jobs", (h,)) for h in bearer), c, 200)),
        ScalePath("GET /jobs (page)", Plan("scale-page-jobs", "", "GET", tuple(
            Item("/jobs", (("Cookie", f"session={cookie}"),)) for cookie in world.teacher_cookies), c, 200)),
        ScalePath("GET /api/notifications (student's inbox)", Plan("scale-api-notifications", "", "GET",
                                                                (Item("/api/notifications", (student,)),), c, 200)),
        ScalePath("GET /notifications (page)", Plan("scale-page-notifications", "", "GET", (
            Item("/notifications", (("Cookie", f"session={world.student_cookie}"),)),), c, 200)),
        ScalePath("POST /api/classes/<id>/activities (enqueue)", Plan("scale-enqueue", "", "POST", tuple(
            Item(f"/api/classes/{t.class_id}/activities", (h, JSON), body) for t, h in zip(teachers, bearer, strict=True)),
            c, 202), after=settle),
    ]


def _measure_all(sub: Context, measured: list[ScalePath], rounds: int) -> dict[str, list[LoadResult]]:
    """Each path in turn, `rounds` times. The control's server runs only while it is measured:
    on PostgreSQL its 32 idle connections would otherwise count against max_connections (with
    the web tier's 40) while the web paths run."""
    stack = sub.stack
    results: dict[str, list[LoadResult]] = {p.label: [] for p in measured}
    for _round in range(rounds):
        for p in measured:
            stack.keep("web", p.server)
            url = stack.web() if p.server == "web" else stack.reference(p.server.removeprefix("ref-"))
            result = sub.measure(p.label, dataclasses.replace(p.plan, base_url=url))
            if p.after is not None:
                p.after(result)
            results[p.label].append(result)
    stack.keep("web")
    return results


def _median_result(runs: list[LoadResult]) -> LoadResult:
    return sorted(runs, key=lambda r: r.p99_ms)[len(runs) // 2]


def p99_growth(small: list[LoadResult], big: list[LoadResult]) -> float | None:
    """The median p99 of a path's runs on the big database over that of its runs on the small one."""
    before, after = _median_result(small).p99_ms, _median_result(big).p99_ms
    return after / before if before else None


def measure(ctx: Context) -> list[Row]:
    ctx.stack.keep()  # this scenario's servers run on its own database
    big = QUICK_BIG if ctx.options.quick else BIG
    work = ctx.work_dir / "scale"
    work.mkdir(exist_ok=True)
    try:
        with throwaway(ctx.options.database_url, work) as database:
            group = ProcessGroup(work)
            try:
                return _scenario(ctx, database, Stack(group, database.url, work), work, big)
            finally:
                group.close()  # before the database is dropped
    finally:
        # A million rows are most of a gigabyte on SQLite: gone even when the logs are kept.
        for leftover in work.glob("bench.sqlite3*"):
            leftover.unlink(missing_ok=True)


def _scenario(ctx: Context, database: Database, stack: Stack, work: Path, big: Size) -> list[Row]:
    options = dataclasses.replace(ctx.options, duration=min(ctx.options.duration, SECONDS),
                                  warmup=min(ctx.options.warmup, WARMUP))
    # The app's routes as its servers load them now, not as the code may be edited during the run.
    routes = console.routes()
    print("  seeding the scale scenario's school ...", file=sys.stderr, flush=True)
    world = seed_world(database.url, stack.env()["SECRET_KEY"])
    sub = Context(stack, lambda: world.seeded, database, options, work)
    measured = paths(world, database.url, options.connections, stack.empty_queue)
    stack.web()
    budget = LOAD_BUDGET[database.kind]
    grown = {}
    results = {}
    for name, size in (("small", SMALL), ("big", big)):
        print(f"  loading rows up to {size.label} ...", file=sys.stderr, flush=True)
        grown[name] = grow(database, world, size, budget)
        g = grown[name]
        print(f"  {g['jobs']:,} jobs, {g['notifications']:,} notifications for the student, {g['own']:,} jobs of the "
              f"first teacher; loaded in {g['load_seconds']:.1f} s, analyzed in {g['analyze_seconds']:.1f} s",
              file=sys.stderr, flush=True)
        results[name] = _measure_all(sub, measured, options.rounds)
    rows = _rows(measured, results, grown, big, database.kind, options)
    rows += _console_rows(ctx, database, stack, world, work, routes)
    ctx.suspect = ctx.suspect or sub.suspect
    return rows


def _console_rows(ctx: Context, database: Database, stack: Stack, world: World, work: Path,
                  routes: MapAdapter) -> list[Row]:
    """The console's pages and endpoints (bench/console.py) on the big database, after its rows
    of the console's own tables and an operator are added."""
    # The enqueue rows' messages (no worker runs here) would put moto's cost of a deep queue, not
    # the console's, into its rows (Stack.empty_queue): emptied until the web tier has sent them all.
    print("  emptying the main queue while the web tier sends the enqueue rows' messages ...", file=sys.stderr,
          flush=True)
    purged = stack.empty_queue()
    started = time.monotonic()
    print("  adding the console's rows (failed jobs, batches, workflows, audit log) ...", file=sys.stderr, flush=True)
    seeds = console.seed(database.url, stack.env()["SECRET_KEY"], world.teacher_ids[0], world.others)
    engine = make_engine(database.url)
    try:
        with engine.connect() as conn:
            analyze(conn)
            jobs = count_rows(conn, "SELECT COUNT(*) FROM jobs")
    finally:
        engine.dispose()
    seconds = time.monotonic() - started
    sub = Context(stack, lambda: world.seeded, database, console.options_for(ctx), work)
    # The control at the console's own concurrency: what the machine itself adds to every p99 then.
    label = f"P5 console control: ref (b) 1 SELECT by id, {console.CONNECTIONS} connections"
    stack.keep("web", "ref-select")
    plan = Plan("console-control", stack.reference("select"), "GET", tuple(
        Item(f"/jobs/{job_id}", (console.PER_REQUEST,)) for job_id, _ in world.seeded.poll_jobs),
        console.CONNECTIONS, 200)
    control = sub.measure(label, plan)
    stack.keep("web")
    purged += stack.empty_queue()
    rows = console.measure(sub, seeds, stack.web(), jobs, ctx.options.rounds, routes)
    ctx.suspect = ctx.suspect or sub.suspect
    return [Row(path="P5 console: its rows added, then analyzed", figure=Figure(round(seconds, 1), "s"),
                notes=(console.note(seeds), (f"the main queue emptied after each enqueue run and before these rows ({purged:,} "
                                             "messages here), until the web tier had sent them all (moto walks every "
                                             "message on each GetQueueAttributes and SendMessage; SQS does not)"))),
            Row(path=label, rps=control.rps, p50_ms=control.p50_ms, p99_ms=control.p99_ms,
                notes=tuple(control.problems(plan))), *rows]


def _rows(measured: list[ScalePath], results: dict[str, dict[str, list[LoadResult]]], grown: dict[str, dict[str, float]],
          big: Size, kind: str, options) -> list[Row]:
    small_g, big_g = grown["small"], grown["big"]
    at = f"{small_g['jobs']:,} jobs"
    analyze = "VACUUM ANALYZE" if kind == "postgresql" else "ANALYZE"
    notes = [(f"{kind}: bulk INSERT ... SELECT over a number series (tests/support/bulk.py), then {analyze} "
              f"({big_g['analyze_seconds']:.1f} s); jobs spread over {OWNERS} owners, the first measured teacher "
              f"{int(big_g['own']):,} ({CHILD_SHARE:.0%} of the bulk rows of each measured teacher email chunks of "
              f"finished batches), the student's inbox {int(big_g['notifications']):,}; at the small size "
              f"{int(small_g['jobs']):,} jobs, {int(small_g['own']):,} of the first teacher, "
              f"{int(small_g['notifications']):,} notifications"),
             (f"each path: {options.connections} connections, {options.duration:g} s after {options.warmup:g} s of "
              f"warm-up, {options.rounds} run(s) per size, in the order listed, enqueue last (it adds jobs); "
              f"ratio = p99 with the big database ÷ p99 with the small one")]
    if big_g["stopped"]:
        notes.append(f"the load stopped at its {LOAD_BUDGET[kind]:g} s budget: the rows are those it reached")
    rows = [Row(path=f"P5 bulk load to {int(big_g['jobs']):,} jobs, {int(big_g['notifications']):,} notifications",
                figure=Figure(round(big_g["load_seconds"], 1), "s"), notes=tuple(notes))]
    limit = Target("ratio", GROWTH_LIMIT, at_most=True, label=f"p99 ≤ {GROWTH_LIMIT:.0%} of its p99 at 10^3")
    growth = {p.label: p99_growth(results["small"][p.label], results["big"][p.label]) for p in measured}
    control = next((growth[p.label] for p in measured if not p.target), None)
    for p in measured:
        small, large = _median_result(results["small"][p.label]), _median_result(results["big"][p.label])
        notes = [f"at {size}: {text}" for size, runs in (("10^3", results["small"][p.label]),
                                                         (power(big.jobs), results["big"][p.label]))
                 for r in runs for text in r.problems(p.plan)]
        if p.target and control and growth[p.label] is not None:
            # A reading, not the verdict: it takes the machine's drift to scale every p99 alike.
            notes.append(f"÷ the control's {control:.0%}: {growth[p.label] / control:.0%}")
        rows.append(Row(
            path=f"P5 {p.label}, {power(int(big_g['jobs']))} jobs",
            rps=large.rps, p50_ms=large.p50_ms, p99_ms=large.p99_ms,
            reference=Reference(f"at {at}", (small.rps,), (small.p99_ms,), by="p99"),
            ratio=growth[p.label],
            targets=(limit,) if p.target else (),
            notes=tuple(dict.fromkeys(notes)),
        ))
    return rows
