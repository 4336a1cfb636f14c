"""P6 of issue 13: a 5,000-row roster import on the real local stack, target 30 s.

`measure()` starts the stack (bench/local_stack.py), seeds an institution with one class, logs in
as its teacher and sends a CSV of `rows` new students through the API (POST
/api/classes/<id>/roster-imports), then polls the job as a page would until it has finished:
the seconds from the request to the job's report. The same file is then imported again (every
row matched, nothing created: the import is idempotent) and timed the same way. The invitation
emails, the import's own 100 follow-up jobs, are counted at SES but not in the import's time.

`python -m bench.roster [--database-url URL] [--rows N]` prints the result as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any

import sqlalchemy as sa

from bench.local_stack import Ses, json_request, login, running_stack, seed_school

IMPORT_TIMEOUT = 300  # seconds for one import's job to finish before giving up
INVITES_TIMEOUT = 300  # seconds for every invitation email to reach SES
TERMINAL = ("succeeded", "failed", "cancelled")


def roster_csv(rows: int, tag: str) -> str:
    return "name,email,external_id\n" + "".join(
        f"Aluno {n} {tag},{tag}-{n}@bench.example,{tag}-{n}\n" for n in range(rows))


def _import(stack: Any, token: str, class_id: int, text: str) -> tuple[float, dict[str, Any]]:
    """Seconds from the request to the finished job, and the job."""
    started = time.monotonic()
    status, body = json_request(stack.web + f"/api/classes/{class_id}/roster-imports", {"csv": text}, token=token)
    if status != 202:
        raise RuntimeError(f"the import answered {status}: {body}")
    job_id = body["job"]["id"]
    deadline = started + IMPORT_TIMEOUT
    while True:
        status, body = json_request(stack.web + f"/api/jobs/{job_id}", token=token)
        if status == 200 and body["job"]["state"] in TERMINAL:
            return time.monotonic() - started, body["job"]
        if time.monotonic() >= deadline:
            raise TimeoutError(f"import job {job_id} not finished after {IMPORT_TIMEOUT} s: {body}")
        time.sleep(0.1)


def _enrolled(engine: sa.Engine, class_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM enrollments WHERE class_id = :c"),
                            {"c": class_id}).scalar_one()


def measure(database_url: str | None = None, rows: int = 5000, log_dir: str | None = None) -> dict[str, Any]:
    with running_stack(database_url, log_dir) as stack:
        engine = sa.create_engine(stack.env["DATABASE_URL"])
        try:
            _slug, (picked,) = seed_school(stack, engine, students_per_class=20, classes=1)
            token = login(stack, picked["teacher"])
            ses = _Counter(Ses(stack.env))
            text = roster_csv(rows, uuid.uuid4().hex[:8])
            before = _enrolled(engine, picked["class_id"])
            first_seconds, first = _import(stack, token, picked["class_id"], text)
            if first["state"] != "succeeded":
                raise RuntimeError(f"the import {first['state']}: {first.get('error')}")
            invited_seconds = ses.wait_for(rows, INVITES_TIMEOUT)
            second_seconds, second = _import(stack, token, picked["class_id"], text)
            after = _enrolled(engine, picked["class_id"])
            time.sleep(2)  # a stray second invitation would arrive about now
            return {
                "rows": rows,
                "seconds": round(first_seconds, 2),
                "counts": first["result"]["counts"],
                "invited": first["result"]["invited"],
                "invitation_emails_at_ses": ses.sent(),
                "seconds_to_last_invitation": round(invited_seconds, 2),
                "again_seconds": round(second_seconds, 2),
                "again_counts": second["result"]["counts"],
                "enrolled_added": after - before,
                "database": engine.dialect.name,
            }
        finally:
            engine.dispose()


class _Counter:
    """Emails at SES since it was made."""

    def __init__(self, ses: Ses):
        self.ses = ses
        self.started = time.monotonic()
        self.before = ses.sent()

    def sent(self) -> int:
        return self.ses.sent() - self.before

    def wait_for(self, n: int, timeout: float) -> float:
        """Seconds from this counter's start until `n` emails have arrived."""
        deadline = time.monotonic() + timeout
        while self.sent() < n:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.sent()} of {n} invitation emails after {timeout:g} s")
            time.sleep(0.5)
        return time.monotonic() - self.started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="a migrated-or-empty database to run on (default: a throw-away SQLite file)")
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--log-dir", help="keep the processes' logs here (default: removed at the end)")
    args = parser.parse_args(argv)
    result = measure(args.database_url, args.rows, args.log_dir)
    print(json.dumps(result, indent=2))
    return 0 if result["counts"].get("created") == args.rows and result["enrolled_added"] == args.rows else 1


if __name__ == "__main__":
    sys.exit(main())
