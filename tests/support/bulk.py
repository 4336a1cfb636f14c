"""Fast bulk rows for scale checks (issue 10, P5): a million jobs or a hundred thousand
notifications in seconds, generated inside the database by one INSERT ... SELECT over a number
series (PostgreSQL's generate_series, a recursive CTE on SQLite), so no row crosses the wire.

The rows are what a busy deployment accumulates: mostly finished top-level jobs, fan-out
children of finished batches, and a few open jobs; notifications half read. Nothing here is
used by the app; tests and the profiling helper (tests/support/request_profile.py) call it.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# Rows go back this far in time from `now`, one every this many seconds, newest last.
STEP_SECONDS = 2


def _series(conn: Connection, count: int) -> str:
    """A FROM clause naming `count` rows with a column `n` from 1 to count."""
    if conn.dialect.name == "postgresql":
        return f"generate_series(1, {int(count)}) AS seq(n)"
    # SQLite: a recursive CTE is the series; it is referenced as `seq` like the PostgreSQL one.
    return "seq"


def _with_series(conn: Connection, count: int) -> str:
    if conn.dialect.name == "postgresql":
        return ""
    return f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {int(count)}) "


def _uuid_sql(conn: Connection) -> str:
    # sa.Uuid stores a native uuid on PostgreSQL and 32 hex digits on SQLite.
    return "gen_random_uuid()" if conn.dialect.name == "postgresql" else "lower(hex(randomblob(16)))"


def _time_sql(conn: Connection, start: datetime, offset_sql: str) -> str:
    """A naive UTC timestamp `start + offset_sql seconds`, as core.db.UTCDateTime stores it."""
    base = start.astimezone(UTC).replace(tzinfo=None)
    if conn.dialect.name == "postgresql":
        return f"(TIMESTAMP '{base.isoformat(sep=' ')}' + ({offset_sql}) * INTERVAL '1 second')"
    # SQLAlchemy's SQLite format, microseconds included, so text order is time order.
    return f"(strftime('%Y-%m-%d %H:%M:%S', '{base.isoformat(sep=' ')}', ({offset_sql}) || ' seconds') || '.000000')"


def _json_sql(conn: Connection, pairs: str) -> str:
    return f"jsonb_build_object({pairs})" if conn.dialect.name == "postgresql" else f"json_object({pairs})"


def insert_jobs(conn: Connection, owner_id: int, count: int, *, state: str = "succeeded",
                job_type: str = "report", batch_id: str | None = None, parent_id: str | None = None,
                end: datetime | None = None) -> None:
    """`count` jobs of `owner_id` in `state`, created one every STEP_SECONDS up to `end` (now),
    with report-like payloads; children of `batch_id` when given. Finished states get
    started_at/finished_at, as the worker would have set."""
    end = end or datetime.now(UTC)
    start = end - timedelta(seconds=STEP_SECONDS * count)
    finished = state in ("succeeded", "failed", "cancelled")
    created = _time_sql(conn, start, f"n * {STEP_SECONDS}")
    done = _time_sql(conn, start, f"n * {STEP_SECONDS} + 1") if finished else "NULL"
    payload = _json_sql(conn, "'kind', 'class_roster', 'class_id', n, 'format', 'csv'")
    batch = "NULL" if batch_id is None else _uuid_literal(conn, batch_id)
    parent = "NULL" if parent_id is None else _uuid_literal(conn, parent_id)
    conn.execute(sa.text(
        f"{_with_series(conn, count)}"
        "INSERT INTO jobs (id, type, payload, owner_id, state, attempts, progress, trace_id, batch_id, parent_id,"
        " created_at, published_at, started_at, finished_at) "
        f"SELECT {_uuid_sql(conn)}, '{job_type}', {payload}, {int(owner_id)}, '{state}', {1 if finished else 0},"
        f" {100 if state == 'succeeded' else 0}, 'bulk', {batch}, {parent}, {created}, {created}, {done}, {done} "
        f"FROM {_series(conn, count)}"
    ))


def _uuid_literal(conn: Connection, value: str) -> str:
    import uuid

    parsed = uuid.UUID(str(value))
    return f"'{parsed}'" if conn.dialect.name == "postgresql" else f"'{parsed.hex}'"


def insert_batch(conn: Connection, owner_id: int, total: int, key: str) -> str:
    """A completed batch of `total` (all succeeded); returns its id."""
    import uuid

    batch_id = uuid.uuid4()
    stored = str(batch_id) if conn.dialect.name == "postgresql" else batch_id.hex
    now = datetime.now(UTC).replace(tzinfo=None)
    conn.execute(sa.text(
        "INSERT INTO batches (id, owner_id, key, description, total, succeeded, failed, followup_payload,"
        " created_at, completed_at) VALUES (:id, :owner, :key, :key, :total, :total, 0, '{}', :now, :now)"),
        {"id": stored, "owner": owner_id, "key": key, "total": total, "now": now})
    return str(batch_id)


def insert_notifications(conn: Connection, user_id: int, count: int, *, read_every: int = 2,
                         end: datetime | None = None) -> None:
    """`count` notifications for `user_id`, one every STEP_SECONDS up to `end` (now); every
    `read_every`-th one read (0: none read)."""
    end = end or datetime.now(UTC)
    start = end - timedelta(seconds=STEP_SECONDS * count)
    created = _time_sql(conn, start, f"n * {STEP_SECONDS}")
    read = f"CASE WHEN n % {int(read_every)} = 0 THEN {created} END" if read_every else "NULL"
    conn.execute(sa.text(
        f"{_with_series(conn, count)}"
        "INSERT INTO notifications (user_id, kind, title, body, dedupe_key, created_at, read_at) "
        f"SELECT {int(user_id)}, 'activity', 'Activity ' || n, 'Body of ' || n, 'bulk:' || n, {created}, {read} "
        f"FROM {_series(conn, count)}"
    ))


def busy_deployment(conn: Connection, teacher_id: int, others: list[int], student_id: int, jobs: int,
                    notifications: int) -> None:
    """`jobs` job rows and `notifications` notifications for `student_id`, shaped like a busy
    deployment: the teacher owns half the jobs as finished top-level ones (the worst case for
    their job list) and a quarter as the children of finished fan-out batches; the rest belong
    to `others`. Ends with VACUUM ANALYZE, as autovacuum would soon do (the visibility map is
    what lets an index-only scan skip the table)."""
    own, children = jobs // 2, jobs // 4
    insert_jobs(conn, teacher_id, own)
    batches = max(1, children // 1000)
    for b in range(batches):
        batch_id = insert_batch(conn, teacher_id, children // batches, f"bulk:{teacher_id}:{b}")
        insert_jobs(conn, teacher_id, children // batches, job_type="email", batch_id=batch_id)
    rest = jobs - own - (children // batches) * batches
    for i, other in enumerate(others):
        insert_jobs(conn, other, rest // len(others) + (1 if i < rest % len(others) else 0))
    insert_notifications(conn, student_id, notifications)
    conn.commit()
    if conn.dialect.name == "postgresql":
        # VACUUM cannot run in a transaction; the pool resets the level when the connection returns.
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    else:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
