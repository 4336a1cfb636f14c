"""In-process cost of the worker's overhead per message (issue 10, P4), through the real worker
app on a real database: an sqsd POST of a canary job (claim, no-op, record, 200) next to bare
Flask's POST doing one raw UPDATE (bench/reference_apps.py's (d)), both through Flask's test
client, so what differs is only what each does per message. Wall and CPU milliseconds and SQL
statements per message, optionally a cProfile.

    .venv/bin/python -m tests.support.worker_profile --database postgresql://postgres@127.0.0.1:5432/test \
        --messages 400 [--profile]

On PostgreSQL it also runs the canaries with the jobs table's triggers disabled (migration 0006
keeps the console's counters and attempt history with them) to show what they cost per job.
A developer's tool, not a benchmark (`make bench` measures over HTTP under load) and not a test.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Self

import boto3
import sqlalchemy as sa
from moto import mock_aws
from sqlalchemy import event

from bench.database import throwaway
from core.db import utcnow
from core.jobs.envelope import Envelope
from core.jobs.sqsd_paths import JOBS_PATH
from core.jobs.types import CANARY, CanaryPayload
from core.models import Job
from tests.sqsd import sqsd_headers
from tests.support.request_profile import REGION, _p, _timed


def _canaries(engine: sa.Engine, count: int) -> list[uuid.UUID]:
    now, payload = utcnow(), CANARY.dump(CanaryPayload(note="profile"))
    ids = [uuid.uuid4() for _ in range(count)]
    with engine.begin() as conn:
        conn.execute(sa.insert(Job), [
            {"id": job_id, "type": CANARY.name, "payload": payload, "owner_id": None, "state": "queued",
             "attempts": 0, "progress": 0, "trace_id": job_id.hex, "created_at": now, "published_at": now}
            for job_id in ids])
    return ids


def _deliveries(client, ids: list[uuid.UUID], path: str, sqsd: bool) -> Callable[[], None]:
    pending = iter(ids)

    def post() -> None:
        job_id = next(pending)
        body = Envelope(job_id=job_id, type=CANARY.name, trace_id=job_id.hex).to_json()
        headers = {**(sqsd_headers() if sqsd else {}), "Content-Type": "application/json"}
        response = client.post(path, data=body, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)

    return post


class _Statements:
    """Counts the statements the engine's connections run while it is open."""

    def __init__(self, engine: sa.Engine):
        self.engine, self.count = engine, 0

    def _seen(self, *_args) -> None:
        self.count += 1

    def __enter__(self) -> Self:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _set_triggers(engine: sa.Engine, enabled: bool) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE jobs {'ENABLE' if enabled else 'DISABLE'} TRIGGER USER"))


def _row(label: str, walls: list[float], cpu: list[float], statements: float | None) -> str:
    sql = "-" if statements is None else f"{statements:.1f}"
    return (f"{label:<44} {_p(walls, .5):>7.2f} {_p(walls, .99):>7.2f} {sum(walls) / len(walls):>8.2f}"
            f" {sum(cpu) / len(cpu):>7.2f} {sql:>7}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="sqlite://", help="a PostgreSQL URL (a database is created), or sqlite://")
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--profile", action="store_true", help="run the canaries once more under cProfile")
    args = parser.parse_args(argv)
    server = None if args.database.startswith("sqlite") else args.database
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aula-worker-profile-")))
        stack.enter_context(mock_aws())
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": REGION})
        queue_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="aula-jobs")["QueueUrl"]
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="aula-files")
        database = stack.enter_context(throwaway(server, work))
        _run(args, database.url, database.kind, queue_url)
    return 0


def _run(args, url: str, dialect: str, queue_url: str) -> None:
    from bench.reference_apps import create_app as reference_app
    from core.settings import Settings
    from worker import create_app

    settings = Settings.from_env({
        "APP_ROLE": "worker", "SECRET_KEY": "profile-secret-key-0123456789abcdefghij", "DATABASE_URL": url,
        "AWS_REGION": REGION, "LOG_LEVEL": "WARNING", "SQS_QUEUE_URL": queue_url, "S3_BUCKET": "aula-files"})
    app = create_app(settings)
    engine = app.extensions["aula"].db.engine
    os.environ["DATABASE_URL"] = url
    reference = reference_app("update").test_client()
    worker = app.test_client()
    n = args.messages
    print(f"{n} messages per row on {dialect}")
    print(f"{'row':<44} {'p50 ms':>7} {'p99 ms':>7} {'mean ms':>8} {'CPU ms':>7} {'SQL/msg':>7}")
    rows = [("(d) bare Flask POST + one raw UPDATE", reference, "/update", False, None),
            ("sqsd POST of a canary (claim, no-op, record)", worker, JOBS_PATH, True, True)]
    if dialect == "postgresql":
        rows.append(("the same, jobs' triggers disabled (0006)", worker, JOBS_PATH, True, False))
    try:
        for _round in range(2):  # the first round warms both up (connections, compiled statements)
            for label, client, path, sqsd, triggers in rows:
                ids = _canaries(engine, n)
                if triggers is False:
                    _set_triggers(engine, enabled=False)
                cpu: list[float] = []
                try:
                    with _Statements(engine) as counted:
                        walls = _timed(_deliveries(client, ids, path, sqsd), n, cpu)
                finally:
                    if triggers is False:
                        _set_triggers(engine, enabled=True)
                # The reference runs on its own driver connections: one UPDATE a message, by construction.
                statements = counted.count / n if sqsd else 1.0
                if _round:
                    print(_row(label, walls, cpu, statements), flush=True)
        if args.profile:
            ids = _canaries(engine, n)
            profiler = cProfile.Profile()
            post = _deliveries(worker, ids, JOBS_PATH, True)
            profiler.enable()
            for _ in range(n):
                post()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(40)
            print(out.getvalue())
    finally:
        app.extensions["aula"].db.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
