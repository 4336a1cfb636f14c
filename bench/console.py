"""The operations console's rows of P5 (issue 11): every console page and GET endpoint, called by
an operator (who sees every job, the widest scope), loaded with the big database in place, each
judged by its own p99 against the console's target (≤ 200 ms), not against its p99 at 10^3 rows.

bench/scale.py runs these after its own rows at the big size, on its database and servers. Before
they run, `seed` adds what a console has to read besides the bulk jobs: failed jobs with errors
(the filters' worst cases need some), batches, workflows and audit entries in the thousands, and
the operator's logins. The paths are written once, in CONSOLE_PATHS; a path the app does not
route yet (an area still being built) is a "not built" row instead of a failed run, and is
measured as soon as it is routed. A path that answers anything but 200 is a row with the answer
in its note and no p99, so one area's bug does not lose the others' rows.
"""
from __future__ import annotations

import dataclasses
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import MapAdapter, RequestRedirect

from bench.context import Context
from bench.load import Item, LoadError, LoadResult, Plan
from bench.rows import Row, Target
from bench.seed import TOKEN_TTL
from core.auth import issue_token
from core.db import make_engine
from core.jobs.workflows import STEP_JOB_TYPE, WORKFLOWS
from core.models import Batch, Job, User, Workflow
from tests.support import bulk

TARGET_P99_MS = 200.0
# A console is a few operators at once, not a crowd: closed loop at this many connections.
CONNECTIONS = 4
# A new connection per request, as Elastic Beanstalk's nginx (no upstream keepalive) reaches gunicorn:
# kept-alive ones stay with the worker that took them (docs/performance.md, session 20).
PER_REQUEST = ("Connection", "close")
SECONDS = 5.0
# Besides the bulk rows: enough of each that no list is trivially short, as a year of a busy
# deployment might hold (batches: one per published activity; audit: every console action).
FAILED_JOBS = 20_000
EXTRA_BATCHES = 20_000
WORKFLOWS_ROWS = 5_000
AUDIT_ENTRIES = 100_000
ERROR_TEXT = "SES throttled: Maximum sending rate exceeded"


@dataclass(frozen=True)
class ConsolePath:
    label: str
    path: str  # with {placeholders} filled from Seeds.values
    page: bool = False  # a page (session cookie) rather than the JSON API (bearer token)


# Every console page and GET endpoint, in the table's order. The jobs list once unfiltered and
# once per filter (web/common/ops/jobs_params.py names them).
CONSOLE_PATHS: tuple[ConsolePath, ...] = (
    ConsolePath("GET /api/ops/overview", "/api/ops/overview"),
    ConsolePath("GET /ops/ (overview page)", "/ops/", page=True),
    ConsolePath("GET /ops/overview/live", "/ops/overview/live", page=True),
    ConsolePath("GET /api/ops/pauses", "/api/ops/pauses"),
    ConsolePath("GET /api/ops/jobs", "/api/ops/jobs"),
    ConsolePath("GET /api/ops/jobs?state=failed", "/api/ops/jobs?state=failed"),
    ConsolePath("GET /api/ops/jobs?type=", "/api/ops/jobs?type={job_type}"),
    # Every bulk job is of one school: alone, this filter is the whole table, which the list refuses (422).
    ConsolePath("GET /api/ops/jobs?institution=&state=failed", "/api/ops/jobs?institution={institution}&state=failed"),
    ConsolePath("GET /api/ops/jobs?owner=", "/api/ops/jobs?owner={owner}"),
    ConsolePath("GET /api/ops/jobs?created_from=&created_to=",
                "/api/ops/jobs?created_from={day_before}&created_to={day_before}"),
    ConsolePath("GET /api/ops/jobs?finished_from=&finished_to=",
                "/api/ops/jobs?finished_from={day_before}&finished_to={day_before}"),
    # The error and payload searches must be narrowed by another filter (the jobs list refuses
    # them alone with a 422 at this size): each with the one a person would add first.
    ConsolePath("GET /api/ops/jobs?state=failed&error=", "/api/ops/jobs?state=failed&error=throttled"),
    ConsolePath("GET /api/ops/jobs?owner=&payload=", "/api/ops/jobs?owner={owner}&payload=class_id%3D77"),
    ConsolePath("GET /api/ops/jobs?sort=oldest", "/api/ops/jobs?sort=oldest"),
    ConsolePath("GET /ops/jobs (page)", "/ops/jobs", page=True),
    ConsolePath("GET /ops/jobs?state=failed (page)", "/ops/jobs?state=failed", page=True),
    ConsolePath("GET /api/ops/jobs/<id>", "/api/ops/jobs/{job_id}"),
    ConsolePath("GET /ops/jobs/<id> (page)", "/ops/jobs/{job_id}", page=True),
    ConsolePath("GET /api/ops/jobs/<id>/logs", "/api/ops/jobs/{job_id}/logs"),
    # What a bulk action's confirmation counts: every failed job (up to the count's cap).
    ConsolePath("GET /api/ops/bulk/count?state=failed", "/api/ops/bulk/count?action=reprocess&state=failed"),
    ConsolePath("GET /ops/jobs/bulk?state=failed (page)", "/ops/jobs/bulk?action=reprocess&state=failed", page=True),
    ConsolePath("GET /api/ops/batches", "/api/ops/batches"),
    ConsolePath("GET /api/ops/batches?state=open", "/api/ops/batches?state=open"),
    ConsolePath("GET /ops/batches (page)", "/ops/batches", page=True),
    ConsolePath("GET /api/ops/batches/<id>", "/api/ops/batches/{batch_id}"),
    ConsolePath("GET /ops/batches/<id> (page)", "/ops/batches/{batch_id}", page=True),
    ConsolePath("GET /api/ops/workflows", "/api/ops/workflows"),
    ConsolePath("GET /api/ops/workflows?state=failed", "/api/ops/workflows?state=failed"),
    ConsolePath("GET /ops/workflows (page)", "/ops/workflows", page=True),
    ConsolePath("GET /api/ops/workflows/<id>", "/api/ops/workflows/{workflow_id}"),
    ConsolePath("GET /ops/workflows/<id> (page)", "/ops/workflows/{workflow_id}", page=True),
    ConsolePath("GET /api/ops/dead-letters", "/api/ops/dead-letters"),
    ConsolePath("GET /ops/dead-letters (page)", "/ops/dead-letters", page=True),
    ConsolePath("GET /ops/dead-letters/live", "/ops/dead-letters/live", page=True),
    ConsolePath("GET /api/ops/periodic", "/api/ops/periodic"),
    ConsolePath("GET /api/ops/periodic/<task>", "/api/ops/periodic/relay-outbox"),
    ConsolePath("GET /ops/periodic (page)", "/ops/periodic", page=True),
    ConsolePath("GET /api/ops/audit", "/api/ops/audit"),
    ConsolePath("GET /api/ops/audit?action=", "/api/ops/audit?action=cancel"),
    ConsolePath("GET /ops/audit (page)", "/ops/audit", page=True),
)


@dataclass(frozen=True)
class Seeds:
    operator_id: int
    bearer: str  # the operator's API token
    cookie: str  # the operator's signed session cookie (a browser login)
    values: dict[str, str]  # the placeholders of CONSOLE_PATHS
    job_ids: tuple[str, ...]  # failed jobs to open, one per request in turn

    def items(self, console_path: ConsolePath) -> tuple[Item, ...]:
        header = (("Cookie", f"session={self.cookie}") if console_path.page
                  else ("Authorization", f"Bearer {self.bearer}"))
        paths = [console_path.path.format(**self.values, job_id=job_id) for job_id in self.job_ids] \
            if "{job_id}" in console_path.path else [console_path.path.format(**self.values)]
        return tuple(Item(p, (header, PER_REQUEST)) for p in paths)


def routes() -> MapAdapter:
    """The app's GET routes as the web tier registers them (web/__init__.py: the API blueprints
    under /api, the pages at the root), without starting an app: the running server is the same code."""
    from web import pages
    from web.api import ops

    app = Flask("bench_console_routes")
    app.register_blueprint(ops.bp, url_prefix="/api")
    app.register_blueprint(pages.bp)
    return app.url_map.bind("localhost")


def is_routed(adapter: MapAdapter, path: str) -> bool:
    try:
        adapter.match(path.split("?", 1)[0], method="GET")
    except (NotFound, MethodNotAllowed):
        return False
    except RequestRedirect:
        return True  # e.g. a missing trailing slash: routed, under its canonical name
    return True


def seed(database_url: str, secret_key: str, owner_id: int, other_owner_ids: tuple[int, ...]) -> Seeds:
    """The rows the console reads besides the bulk jobs, an operator, and its logins."""
    from bench.scale_world import session_cookie

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            owners = (owner_id, *other_owner_ids[:3])  # a few owners' failures, an hour apart
            for n, owner in enumerate(owners):
                share = FAILED_JOBS // len(owners) + (FAILED_JOBS % len(owners) if n == 0 else 0)
                bulk.insert_jobs(conn, owner, share, state="failed", end=datetime.now(UTC) - timedelta(hours=n))
            conn.execute(sa.text("UPDATE jobs SET error = :e WHERE state = 'failed' AND error IS NULL"),
                         {"e": ERROR_TEXT})
            _bulk_batches(conn, owner_id, EXTRA_BATCHES)
            _bulk_workflows(conn, owner_id, WORKFLOWS_ROWS)
            conn.commit()
        with Session(engine) as session:
            owner = session.get(User, owner_id)
            assert owner is not None
            operator = User(institution_id=None, email=f"operator@bench-{uuid.uuid4().hex[:8]}.test",
                            full_name="Bench operator", role="operator", password_hash=owner.password_hash)
            session.add(operator)
            session.flush()
            workflow = _workflow_with_steps(session, owner_id)
            # One of the scale load's batches of a thousand email chunks, else one of the console's own.
            batch_id = session.scalar(sa.select(Job.batch_id).where(Job.batch_id.is_not(None), Job.owner_id == owner_id)
                                      .limit(1)) or session.scalar(sa.select(Batch.id).limit(1))
            job_ids = tuple(str(i) for i in session.scalars(
                sa.select(Job.id).where(Job.state == "failed").order_by(Job.created_at.desc()).limit(32)))
            bearer = issue_token(session, operator, TOKEN_TTL)
            browser = issue_token(session, operator, TOKEN_TTL, kind="browser")
            session.commit()
            values = {"job_type": "report", "institution": str(owner.institution_id), "owner": str(owner_id),
                      "day_before": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
                      "batch_id": str(batch_id), "workflow_id": str(workflow.id)}
            operator_id = operator.id
        with engine.connect() as conn:
            _bulk_audit(conn, operator_id, AUDIT_ENTRIES)
            conn.commit()
        return Seeds(operator_id, bearer, session_cookie(secret_key, browser), values, job_ids or (str(uuid.uuid4()),))
    finally:
        engine.dispose()


# The bulk loader's series and literals (tests/support/bulk.py), for the console's own tables.
def _bulk_batches(conn, owner_id: int, count: int) -> None:
    start = datetime.now(UTC) - timedelta(seconds=bulk.STEP_SECONDS * count)
    created = bulk._time_sql(conn, start, f"n * {bulk.STEP_SECONDS}")
    conn.execute(sa.text(
        f"{bulk._with_series(conn, count)}"
        "INSERT INTO batches (id, owner_id, key, description, total, succeeded, failed, followup_type,"
        " followup_payload, created_at, completed_at) "
        f"SELECT {bulk._uuid_sql(conn)}, {int(owner_id)}, 'bench-console:' || n, 'Activity ' || n || ' emails', 30,"
        f" CASE WHEN n % 100 = 0 THEN 10 ELSE 29 END, CASE WHEN n % 100 = 0 THEN 0 ELSE 1 END, 'teacher_summary',"
        f" {bulk._json_sql(conn, '')}, {created}, CASE WHEN n % 100 = 0 THEN NULL ELSE {created} END "
        f"FROM {bulk._series(conn, count)}"))


def _bulk_workflows(conn, owner_id: int, count: int) -> None:
    start = datetime.now(UTC) - timedelta(seconds=bulk.STEP_SECONDS * count)
    created = bulk._time_sql(conn, start, f"n * {bulk.STEP_SECONDS}")
    finished = bulk._time_sql(conn, start, f"n * {bulk.STEP_SECONDS} + 1")
    state = "CASE WHEN n % 50 = 0 THEN 'failed' WHEN n % 10 = 0 THEN 'compensated' ELSE 'succeeded' END"
    params = bulk._json_sql(conn, "'name', 'School ' || n, 'slug', 'school-' || n, 'password_hash', 'x'")
    conn.execute(sa.text(
        f"{bulk._with_series(conn, count)}"
        "INSERT INTO workflows (id, name, owner_id, state, params, context, created_at, finished_at) "
        f"SELECT {bulk._uuid_sql(conn)}, 'seed_institution', {int(owner_id)}, {state}, {params},"
        f" {bulk._json_sql(conn, '')}, {created}, {finished} "
        f"FROM {bulk._series(conn, count)}"))


def _bulk_audit(conn, actor_id: int, count: int) -> None:
    start = datetime.now(UTC) - timedelta(seconds=bulk.STEP_SECONDS * count)
    created = bulk._time_sql(conn, start, f"n * {bulk.STEP_SECONDS}")
    action = "CASE n % 4 WHEN 0 THEN 'reprocess' WHEN 1 THEN 'cancel' WHEN 2 THEN 'redrive' ELSE 'pause' END"
    detail = bulk._json_sql(conn, "'n', n")
    conn.execute(sa.text(
        f"{bulk._with_series(conn, count)}"
        "INSERT INTO audit_log (actor_id, action, target, count, detail, created_at) "
        f"SELECT {int(actor_id)}, {action}, 'job:' || {bulk._uuid_sql(conn)}, 1, {detail}, {created} "
        f"FROM {bulk._series(conn, count)}"))


def _workflow_with_steps(session: Session, owner_id: int) -> Workflow:
    """A finished seed workflow whose every step ran as a job, as its detail page reads it."""
    spec = WORKFLOWS["seed_institution"]
    now = datetime.now(UTC)
    workflow = Workflow(id=uuid.uuid4(), name=spec.name, owner_id=owner_id, state="succeeded",
                        params={"name": "Bench school", "slug": "bench", "password_hash": "x"},
                        context={s.name: {} for s in spec.steps}, created_at=now - timedelta(minutes=1),
                        finished_at=now)
    session.add(workflow)
    session.flush()  # before its jobs: no relationship tells the session the order
    for n, step in enumerate(spec.steps):
        at = workflow.created_at + timedelta(seconds=5 * n)
        session.add(Job(id=uuid.uuid4(), type=STEP_JOB_TYPE, owner_id=owner_id, workflow_id=workflow.id,
                        step=step.name, state="succeeded", attempts=1, progress=100,
                        payload={"workflow": spec.name, "step": step.name}, created_at=at, published_at=at,
                        started_at=at, finished_at=at + timedelta(seconds=4)))
    session.flush()
    return workflow


def measure(ctx: Context, seeds: Seeds, base_url: str, jobs: int, rounds: int,
            adapter: MapAdapter | None = None) -> list[Row]:
    """One row per console path: its median p99 over `rounds` runs against the target, or why
    there is none (not built yet; a failed run). `adapter`: the routes as read when the servers
    started (routes()), which is the code they run."""
    adapter = adapter or routes()
    target = Target("p99_ms", TARGET_P99_MS, at_most=True, label=f"p99 ≤ {TARGET_P99_MS:g} ms")
    size = f"{jobs:,} jobs"
    rows = []
    for console_path in CONSOLE_PATHS:
        label = f"P5 console {console_path.label}, {size}"
        if not is_routed(adapter, console_path.path.format(**seeds.values, job_id=seeds.job_ids[0])):
            rows.append(Row(path=label, notes=("not built: the app has no such route yet",)))
            continue
        plan = Plan(f"console-{len(rows)}", base_url, "GET", seeds.items(console_path), CONNECTIONS, 200)
        runs: list[LoadResult] = []
        notes: list[str] = []
        try:
            for _round in range(rounds):
                result = ctx.measure(label, plan)
                runs.append(result)
                notes += result.problems(plan)
        except LoadError as exc:
            print(f"  {label}: {exc}", file=sys.stderr, flush=True)
            rows.append(Row(path=label, targets=(target,), notes=(f"no run: {exc}",)))
            continue
        rows.append(Row(path=label, rps=median(r.rps for r in runs), p50_ms=median(r.p50_ms for r in runs),
                        p99_ms=median(r.p99_ms for r in runs), runs_rps=tuple(r.rps for r in runs),
                        runs_p99_ms=tuple(r.p99_ms for r in runs), targets=(target,),
                        notes=tuple(dict.fromkeys(notes))))
    return rows


def options_for(ctx: Context):
    """The console rows' run settings: a few operators, short runs."""
    return dataclasses.replace(ctx.options, duration=min(ctx.options.duration, SECONDS),
                               warmup=min(ctx.options.warmup, 1.0), connections=CONNECTIONS)


def note(seeds: Seeds) -> str:
    return (f"console rows: an operator's calls (every job in scope), {CONNECTIONS} connections closed loop, "
            "each request on a new connection (as Elastic Beanstalk's nginx reaches gunicorn), "
            f"{SECONDS:g} s per run, after the scale rows at the big size; added first: {FAILED_JOBS:,} failed jobs "
            f"with an error text, {EXTRA_BATCHES:,} batches, {WORKFLOWS_ROWS:,} workflows and {AUDIT_ENTRIES:,} audit "
            f"entries; a job's page cycles through {len(seeds.job_ids)} failed jobs; target p99 ≤ {TARGET_P99_MS:g} ms")

