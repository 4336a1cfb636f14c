"""In-process cost of the web tier's hot paths, through the real app on a real database:
milliseconds per request (p50, p99), CPU and SQL statements per request, and optionally a
cProfile or the query plans.

    .venv/bin/python -m tests.support.request_profile --database postgresql://postgres@127.0.0.1:5432/test \
        --no-sqs --requests 400 [--against 1000000,100000] [--profile enqueue] [--explain]

A developer's tool, not a benchmark (`make bench` measures over HTTP under load) and not a test.
It creates its own database (bench/database.py: a throwaway PostgreSQL database dropped at the
end, or a temporary SQLite file), seeds it with tests/support/bulk.py, and runs each path in a
loop with Flask's test client against in-process moto. `--against J,N` seeds a second database
with J jobs and N notifications and times both in turns, with the ratio of their p99 (issue 10,
P5). `--no-sqs` hands the committed messages to a queue that only counts them, to see the
request's own cost without moto's; `--explain` prints EXPLAIN ANALYZE of every statement one
request of each path runs (PostgreSQL).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import boto3
import sqlalchemy as sa
from moto import mock_aws

from bench.database import throwaway

REGION = "us-east-1"


class CountingQueue:
    """Takes the place of the SQS queue with --no-sqs: accepts every message, sends nothing.
    It is also its own background sender (core/jobs/sender.py), so a request hands its
    messages over as on the web tier, without waiting."""

    def __init__(self) -> None:
        self.sent = 0
        self.sender = self

    def close(self, timeout: float | None = None) -> None:
        pass

    def hand_over(self, items) -> int:
        items = list(items)
        self.sent += len(items)
        return len(items)

    def send(self, envelope, delay_seconds: int = 0) -> str:
        self.sent += 1
        return uuid.uuid4().hex

    def send_many(self, items) -> set[str]:
        items = list(items)
        self.sent += len(items)
        return {str(envelope.job_id) for envelope, _delay in items}


def _aws_env() -> dict[str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="aula-jobs")["QueueUrl"]
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="aula-files")
    return {"SQS_QUEUE_URL": queue_url, "S3_BUCKET": "aula-files"}


def _world(app, jobs: int, notifications: int) -> dict:
    from tests import factories
    from tests.support.bulk import busy_deployment

    database = app.extensions["aula"].db
    with database.sessions() as db:
        school = factories.institution(db)
        teacher = factories.user(db, school, "teacher")
        group, students = factories.school_class(db, teacher, students=30)
        others = [factories.user(db, school, "teacher") for _ in range(20)]
        operator = factories.user(db, school, "operator")
        operator.institution_id = None
        db.commit()
        world = {"teacher": teacher, "class_id": group.id, "student": students[0], "operator": operator}
    with database.engine.connect() as conn:
        busy_deployment(conn, teacher.id, [o.id for o in others], students[0].id, jobs, notifications)
    return world


def _timed(call: Callable[[], object], n: int, cpu: list[float] | None = None) -> list[float]:
    """Wall-clock ms of each call; `cpu` gets this process's CPU ms of each (steadier than the
    wall clock on a busy machine, but blind to the database's own work)."""
    times = []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        times.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1000)
    return times


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="sqlite://", help="a PostgreSQL URL (a database is created), or sqlite://")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--against", metavar="JOBS,NOTIFICATIONS",
                        help="also seed a second database with this many rows and time both in turns, "
                             "with the ratio of their p99 (e.g. --against 1000000,100000)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--paths", default="", help="comma-separated path names (default: all)")
    parser.add_argument("--profile", default="", help="a path name to run under cProfile")
    parser.add_argument("--no-sqs", action="store_true", help="count messages instead of sending them to moto")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the list queries")
    args = parser.parse_args(argv)

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    sizes = [(args.jobs, args.notifications)]
    if args.against:
        jobs, notifications = (int(n) for n in args.against.split(","))
        sizes.append((jobs, notifications))
    with ExitStack() as stack:
        stack.enter_context(mock_aws())
        aws = _aws_env()
        server = None if args.database.startswith("sqlite") else args.database
        worlds = []
        for jobs, notifications in sizes:
            # bench/database.py: a fresh SQLite file or a throwaway PostgreSQL database, migrated.
            database = stack.enter_context(throwaway(server, Path(stack.enter_context(tempfile.TemporaryDirectory()))))
            worlds.append(stack.enter_context(_seeded(args, database.url, aws, jobs, notifications)))
        _run(worlds, args)
    return 0


@contextmanager
def _seeded(args, url: str, aws: dict[str, str], jobs: int, notifications: int) -> Iterator[dict]:
    """A migrated database with `jobs` and `notifications` rows, its web app, and its hot paths."""
    from core.settings import Settings
    from web import create_app

    settings = Settings.from_env({
        "APP_ROLE": "web", "SECRET_KEY": "profile-secret-key-0123456789abcdefghij", "DATABASE_URL": url,
        "AWS_REGION": REGION, "LOG_LEVEL": "WARNING", "JOBS_MAX_IN_FLIGHT_PER_USER": "1000",
        "SESSION_COOKIE_SECURE": "false", **aws})
    app = create_app(settings)
    services = app.extensions["aula"]
    if args.no_sqs:
        services.queue = CountingQueue()
    try:
        started = time.perf_counter()
        world = _world(app, jobs, notifications)
        print(f"seeded {jobs} jobs, {notifications} notifications in "
              f"{time.perf_counter() - started:.1f}s on {services.db.engine.dialect.name}")
        world |= {"app": app, "label": f"{jobs}/{notifications}", "paths": _paths(app, world)}
        yield world
    finally:
        # Services.close drains the background sender first, where there is one.
        getattr(services, "close", services.db.dispose)()


def _paths(app, world) -> dict[str, Callable[[], None]]:
    from bench.reference_apps import create_app as reference_app
    from tests import factories
    from tests.web.pages.helpers import page_login

    engine = app.extensions["aula"].db.engine
    api = app.test_client()
    teacher_headers = factories.login(api, world["teacher"])
    student_headers = factories.login(api, world["student"])
    teacher_page, student_page, operator_page = app.test_client(), app.test_client(), app.test_client()
    page_login(teacher_page, world["teacher"])
    page_login(student_page, world["student"])
    page_login(operator_page, world["operator"])
    polled = api.post(f"/api/classes/{world['class_id']}/activities", json={"title": "Polled"},
                      headers=teacher_headers).get_json()["job"]["id"]

    def finish_open() -> None:
        # Keep the teacher under the cap: what the worker would do with the fan-outs.
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE jobs SET state = 'succeeded' WHERE state = 'queued' AND id <> :id"),
                         {"id": polled if engine.dialect.name == "postgresql" else uuid.UUID(polled).hex})

    enqueued = [0]

    def enqueue():
        enqueued[0] += 1
        if enqueued[0] % 100 == 0:
            finish_open()
        response = api.post(f"/api/classes/{world['class_id']}/activities",
                            json={"title": f"Lista {enqueued[0]}", "description": "Exercícios"},
                            headers=teacher_headers)
        assert response.status_code == 202, response.get_data(as_text=True)

    def expect(client, path, headers=None, status=200):
        def call():
            response = client.get(path, headers=headers)
            assert response.status_code == status, (path, response.status_code, response.get_data(as_text=True)[:300])
        return call

    def second_page(path: str, headers: dict) -> str:
        # Page 2 by the cursor page 1 hands out (the lists that page by position; else page=2).
        body = api.get(path, headers=headers).get_json()
        return f"{path}?after={body['next']}" if body.get("next") else f"{path}?page=2"

    # The bench's floors (bench/reference_apps.py), in-process through the same test client: what
    # a bare Flask app with one raw statement costs next to the paths above.
    os.environ["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    ref_insert, ref_select = reference_app("insert").test_client(), reference_app("select").test_client()

    def floor_insert() -> None:
        response = ref_insert.post("/jobs", json={"title": "floor"})
        assert response.status_code == 202, response.get_data(as_text=True)

    paths: dict[str, Callable[[], None]] = {
        "ref_insert": floor_insert,
        "ref_select": expect(ref_select, f"/jobs/{polled}"),
        "enqueue": enqueue,
        "report": lambda: api.post("/api/reports", json={"kind": "class_roster", "class_id": world["class_id"]},
                                   headers=teacher_headers),
        "poll": expect(api, f"/api/jobs/{polled}", teacher_headers),
        "jobs": expect(api, "/api/jobs", teacher_headers),
        "jobs_state": expect(api, "/api/jobs?state=succeeded", teacher_headers),
        "jobs_page_50": expect(api, "/api/jobs?page=50", teacher_headers),
        "jobs_after": expect(api, second_page("/api/jobs", teacher_headers), teacher_headers),
        "notifications": expect(api, "/api/notifications", student_headers),
        "notifications_unread": expect(api, "/api/notifications?unread=1", student_headers),
        "notifications_after": expect(api, second_page("/api/notifications", student_headers), student_headers),
        "page_jobs": expect(teacher_page, "/jobs"),
        "page_notifications": expect(student_page, "/notifications"),
        # The operations console's heaviest reads (issue 11: p99 <= 200 ms at 10^6 jobs).
        "ops_overview_api": expect(operator_page, "/api/ops/overview"),
        "ops_overview": expect(operator_page, "/ops/"),
        "ops_overview_live": expect(operator_page, "/ops/overview/live"),
        "ops_periodic": expect(operator_page, "/ops/periodic"),
    }
    return paths


def _run(worlds: list[dict], args) -> None:
    """Each path on each database in turns of a tenth of the requests (so a busy machine's
    noise falls on both alike), then one line per path and database."""
    chosen = [p for p in args.paths.split(",") if p] or list(worlds[0]["paths"])
    statements = [0]

    def count(*_args):
        statements[0] += 1

    for world in worlds:
        sa.event.listen(world["app"].extensions["aula"].db.engine, "before_cursor_execute", count)
    print(f"{'path':22} {'rows':>14} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'CPU ms':>7} {'SQL/req':>7}"
          + (f" {'p99 ratio':>9}" if len(worlds) > 1 else ""))
    turn = max(1, args.requests // 10)
    for name in chosen:
        times: list[list[float]] = [[] for _ in worlds]
        cpu: list[list[float]] = [[] for _ in worlds]
        sql = [0 for _ in worlds]
        for i, world in enumerate(worlds):
            for _ in range(min(20, args.requests)):
                world["paths"][name]()
        while len(times[0]) < args.requests:
            for i, world in enumerate(worlds):
                statements[0] = 0
                times[i] += _timed(world["paths"][name], turn, cpu[i])
                sql[i] += statements[0]
        for i, world in enumerate(worlds):
            ratio = f" {_p(times[i], 0.99) / _p(times[0], 0.99):9.2f}" if i and len(worlds) > 1 else ""
            print(f"{name:22} {world['label']:>14} {statistics.median(times[i]):8.2f} {_p(times[i], 0.99):8.2f}"
                  f" {statistics.mean(times[i]):8.2f} {statistics.median(cpu[i]):7.2f}"
                  f" {sql[i] / len(times[i]):7.1f}{ratio}")
    for world in worlds:
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(_timed, world["paths"][args.profile], args.requests)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(45)
            print(f"=== profile of {args.profile} at {world['label']}")
            print(out.getvalue())
        if args.explain:
            print(f"=== plans at {world['label']}")
            _explain(world["app"].extensions["aula"].db.engine, {name: world["paths"][name] for name in chosen})


def _explain(engine, paths: dict[str, Callable[[], None]]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every statement one request of each path runs, captured
    from the real request and replayed in a transaction that is rolled back."""
    if engine.dialect.name != "postgresql":
        print("EXPLAIN ANALYZE: PostgreSQL only")
        return
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        captured.append((statement, parameters))

    for name, call in paths.items():
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            call()
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
        print(f"=== {name}")
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement, parameters in captured:
                if not statement.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
                    continue
                if statement.lstrip().upper().startswith("INSERT"):
                    parameters = _fresh_ids(parameters)  # the request's own row exists already
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
                print("--", " ".join(statement.split())[:240])
                print("\n".join("   " + row[0] for row in cursor.fetchall()))
            raw.rollback()
        finally:
            raw.close()
        captured.clear()


def _fresh_ids(parameters):
    def fresh(value):
        if isinstance(value, uuid.UUID):
            return uuid.uuid4()
        if isinstance(value, str) and len(value) == 36:
            try:
                uuid.UUID(value)
            except ValueError:
                return value
            return str(uuid.uuid4())
        return value

    if isinstance(parameters, dict):
        return {key: fresh(value) for key, value in parameters.items()}
    return parameters


if __name__ == "__main__":
    raise SystemExit(main())
