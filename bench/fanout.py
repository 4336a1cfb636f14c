"""P3 of issue 10: how long 1,000 emails take, end to end, on the real local stack.

`measure()` starts the stack the way `make run` does (bench/local_stack.py), seeds an
institution with `classes` classes of `students_per_class` students (one teacher each), logs in
as each teacher and publishes one activity per class through the API, then waits for the last
teacher summary. It stops every process it started, even when something fails.

It reports, besides the time from the first publish to the last summary, how the emails were
counted: at the SES stand-in (moto's SentLast24Hours, and each recipient's messages in moto's
model data), in the effects table, and in the summaries' own counts. A run is only a good one
when all of them equal `expected`, each recipient exactly once.

`python -m bench.fanout [--database-url URL] [--students-per-class N] [--classes N]` prints the
result as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bench.local_stack import Ses, json_request, login, running_stack, seed_school

FANOUT_TIMEOUT = 600  # seconds from the first publish to the last summary before giving up


def _emails_of(engine: sa.Engine, class_ids: list[int]) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT u.email FROM enrollments e JOIN users u ON u.id = e.student_id WHERE e.class_id IN ("
            + ",".join(str(int(c)) for c in class_ids) + ")")).scalars().all()
    return set(rows)


def _summaries(engine: sa.Engine, activity_ids: list[int]) -> list[dict[str, Any]]:
    keys = [f"activity-summary:{a}" for a in activity_ids]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(sa.column("title"), sa.column("created_at"))
            .select_from(sa.table("notifications", sa.column("title"), sa.column("created_at"),
                                  sa.column("dedupe_key")))
            .where(sa.column("dedupe_key").in_(keys))).mappings()]


def _email_effects(engine: sa.Engine, activity_ids: list[int]) -> int:
    with engine.connect() as conn:
        return sum(conn.execute(sa.text("SELECT count(*) FROM effects WHERE key LIKE :k"),
                                {"k": f"email:activity:{a}:student:%"}).scalar_one() for a in activity_ids)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def measure(database_url: str | None = None, students_per_class: int = 200, classes: int = 5,
            log_dir: str | None = None) -> dict[str, Any]:
    """Publish `classes` activities to classes of `students_per_class` on a fresh local stack and
    time it from the first publish to the last teacher summary (see the module docstring).
    `log_dir` keeps the processes' logs (and the SQLite file) there; by default they go to a
    temporary directory removed at the end."""
    expected = students_per_class * classes
    with running_stack(database_url, log_dir) as stack:
        engine = sa.create_engine(stack.env["DATABASE_URL"])
        try:
            _slug, picked = seed_school(stack, engine, students_per_class, classes)
            emails = _emails_of(engine, [p["class_id"] for p in picked])
            tokens = [login(stack, p["teacher"]) for p in picked]
            ses = Ses(stack.env)
            sent_before = ses.sent()

            activity_ids: list[int] = []
            errors: list[str] = []
            lock = threading.Lock()

            def publish(p: dict, token: str) -> None:
                status, body = json_request(stack.web + f"/api/classes/{p['class_id']}/activities",
                                            {"title": f"Bench {p['class_id']}", "description": "fan-out bench"},
                                             token=token)
                with lock:
                    if status == 202:
                        activity_ids.append(body["activity"]["id"])
                    else:
                        errors.append(f"publish to class {p['class_id']} answered {status}: {body}")

            started = datetime.now(UTC)
            threads = [threading.Thread(target=publish, args=(p, t)) for p, t in zip(picked, tokens, strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise RuntimeError("; ".join(errors))

            deadline = time.monotonic() + FANOUT_TIMEOUT
            while len(summaries := _summaries(engine, activity_ids)) < classes:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{len(summaries)} of {classes} summaries after {FANOUT_TIMEOUT} s")
                time.sleep(0.25)
            last = max(_aware(s["created_at"]) for s in summaries)
            # Anything still arriving at SES after the summaries would be a duplicate: give a
            # straggler a moment to show up before counting.
            time.sleep(2)
            recipients = ses.recipients()
            ours = {address: n for address, n in recipients.items() if address in emails}
            return {
                "seconds": round((last - started).total_seconds(), 2),
                "expected": expected,
                "emails_at_ses": ses.sent() - sent_before,
                "recipients_at_ses": len(ours),
                "recipients_more_than_once": sum(1 for n in ours.values() if n > 1),
                "email_effects": _email_effects(engine, activity_ids),
                "summaries": len(summaries),
                "summary_titles": sorted(s["title"] for s in summaries),
                "emails_per_second": round(expected / max((last - started).total_seconds(), 1e-9), 1),
                "database": engine.dialect.name,
            }
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="a migrated-or-empty database to run on (default: a throw-away SQLite file)")
    parser.add_argument("--students-per-class", type=int, default=200)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--log-dir", help="keep the processes' logs here (default: removed at the end); "
                                          "BENCH_LOG_LEVEL sets their level (default WARNING)")
    args = parser.parse_args(argv)
    result = measure(args.database_url, args.students_per_class, args.classes, args.log_dir)
    print(json.dumps(result, indent=2))
    ok = all(result[k] == result["expected"] for k in ("emails_at_ses", "recipients_at_ses", "email_effects"))
    return 0 if ok and result["recipients_more_than_once"] == 0 and result["summaries"] == args.classes else 1


if __name__ == "__main__":
    sys.exit(main())
