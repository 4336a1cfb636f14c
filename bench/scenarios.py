"""Every scenario `make bench` knows, in the order they run (the interface is in bench/rows.py).
A new kind of row (P5 scale, ...) is one more entry here."""
from __future__ import annotations

from collections.abc import Callable

from bench import http_rows
from bench.context import Context
from bench.database import throwaway
from bench.rows import Figure, Row, Scenario, Target

FANOUT_CLASSES, FANOUT_CLASS_SIZE = 5, 200


def _on_own_database(ctx: Context, name: str, measure: Callable[[str | None], dict]) -> dict:
    """`measure(database_url)` for a scenario that runs the whole local stack itself: on a
    database of its own (a throwaway one on the server given, else a fresh SQLite file), so none
    of this run's servers or rows (thousands of queued canaries) are in its way."""
    ctx.stack.keep()
    if not ctx.options.database_url:
        return measure(None)
    (ctx.work_dir / name).mkdir(exist_ok=True)
    with throwaway(ctx.options.database_url, ctx.work_dir / name) as database:
        return measure(database.url)


def _within_30_s(path: str, seconds: float, check: str, wrong: int, label: str, notes: tuple[str, ...]) -> Row:
    """A local-stack row: seconds against 30 s, and `wrong` (what was not done exactly once) against 0."""
    return Row(path=path, figure=Figure(seconds, "s"), values={check: wrong},
               targets=(Target("figure_value", 30, at_most=True, label="≤ 30 s"),
                        Target(check, 0, at_most=True, label=label)),
               notes=notes)


def fanout(ctx: Context) -> list[Row]:
    """P3, by bench/fanout.py, on the whole local stack (with sqsd)."""
    from bench import fanout as p3

    emails = FANOUT_CLASSES * FANOUT_CLASS_SIZE
    result = _on_own_database(ctx, "fanout", lambda url: p3.measure(
        url, students_per_class=FANOUT_CLASS_SIZE, classes=FANOUT_CLASSES))
    counts = {key: result[key] for key in ("emails_at_ses", "recipients_at_ses", "email_effects")}
    not_once = sum(abs(n - result["expected"]) for n in counts.values()) + result["recipients_more_than_once"]
    notes = ((f"{FANOUT_CLASSES} activities published to classes of {FANOUT_CLASS_SIZE}; seconds from the first "
              f"publish to the last teacher summary, on {result['database']}"),
             (f"counted: {', '.join(f'{k} {v:,}' for k, v in counts.items())}, "
              f"recipients more than once {result['recipients_more_than_once']}, summaries {result['summaries']}"))
    return [_within_30_s(f"P3 fan-out, {emails:,} emails", result["seconds"], "emails_not_once", not_once,
                         "each email once", notes)]


ROSTER_ROWS = 5_000


def roster(ctx: Context) -> list[Row]:
    """P6, by bench/roster.py, on the whole local stack."""
    from bench import roster as p6

    result = _on_own_database(ctx, "roster", lambda url: p6.measure(url, rows=ROSTER_ROWS))
    first, again = result["counts"], result["again_counts"]
    # Every row created and enrolled once, then every row matched and nothing more created.
    wrong = (abs(first.get("created", 0) - ROSTER_ROWS) + abs(result["enrolled_added"] - ROSTER_ROWS)
             + again.get("created", 0) + abs(again.get("matched", 0) - ROSTER_ROWS))
    notes = ((f"a CSV of {ROSTER_ROWS:,} new students sent to one class's import through the API, seconds to the "
              f"job's report, polled as a page does, on {result['database']}"),
             (f"first {first}; the same file again {again} in {result['again_seconds']} s; "
              f"{result['invitation_emails_at_ses']:,} invitation emails at SES "
              f"{result['seconds_to_last_invitation']} s after the request (their own jobs, not timed)"))
    return [_within_30_s(f"P6 roster import, {ROSTER_ROWS:,} rows", result["seconds"], "rows_wrong", wrong,
                         "each row once", notes)]


def scale(ctx: Context) -> list[Row]:
    """P5, by bench/scale.py, on a database and servers of its own."""
    from bench import scale as p5

    return p5.measure(ctx)


SCENARIOS: list[Scenario] = [
    Scenario("healthz", "GET /healthz against ref (a), bare Flask returning a small JSON", http_rows.healthz),
    Scenario("poll", "P2: GET /api/jobs/<id> and its 304 against ref (b), one raw SELECT", http_rows.poll),
    Scenario("enqueue", "P1: publishing an activity, also with SQS paused, against ref (c), one raw INSERT",
             http_rows.enqueue),
    Scenario("paced", "P1's latency in open loop at --paced-rate req/s, also with SQS paused, against ref (c) paced",
             http_rows.paced),
    Scenario("worker", "P4: sqsd POSTs of canary jobs against ref (d), a POST doing one raw UPDATE", http_rows.worker),
    Scenario("scale", "P5: poll, enqueue and the job and notification lists (API and pages) at 10^3 job rows, then "
             "bulk-loaded to 10^6 jobs and 10^5 notifications (--quick: 10^4), p99 against p99; then every operations "
             "console page and GET endpoint at that size, p99 against 200 ms", scale),
    Scenario("fanout", "P3: 1,000 emails on the local stack, seconds to the last teacher summary (minutes)",
             fanout, in_quick=False),
    Scenario("roster", "P6: a 5,000-row roster import on the local stack, seconds to its report", roster,
             in_quick=False),
]


def select(only: list[str] | None, quick: bool) -> list[Scenario]:
    """The scenarios to run: those named (any order given runs in the table's order), else all,
    or with `quick` those marked for it. ValueError for an unknown name."""
    known = {s.name for s in SCENARIOS}
    unknown = [name for name in only or () if name not in known]
    if unknown:
        raise ValueError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if only:
        return [s for s in SCENARIOS if s.name in only]
    return [s for s in SCENARIOS if s.in_quick or not quick]
