"""What the web tier calls to ask for work: coalescing and per-user quotas.

Asking is cheap, doing is not. An identical request (same type, owner and payload) that is
already queued or running returns that job instead of a new one; the partial unique index
`uq_jobs_open_dedupe` decides it, in the INSERT itself. Beyond the user's cap on requests in
flight the answer is QuotaExceeded (the API's 429). Nothing here commits: the caller commits its
unit of work with outbox.commit_and_send.

Exact, and cheap (docs/jobs.md, "Asking is cheap"): the job is inserted by one statement that
counts the user's requests in flight and inserts only below the cap (INSERT ... SELECT ... WHERE
count < cap), each count reading a partial index of what is in flight and stopping at the cap,
however many finished jobs the user has. Two requests of one user must not both count 4 of 5:
on PostgreSQL each first takes a transaction-scoped advisory lock on the user (`lock_owner`: no
row written, released at commit or rollback) and the counting INSERT is the next statement, so
its snapshot is taken after the lock and sees what the previous holder committed. On SQLite the
INSERT itself takes the database's writer lock before it reads. Either way one user's requests
take turns only from that INSERT to their commit; other users are not held up.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.contract import JobType, Payload
from core.jobs.outbox import dedupe_key, requeue, stored_payload
from core.models import Batch, Job, User, Workflow
from core.models.jobs import ASKED_IN_FLIGHT, OPEN_DEDUPE
from core.models.orchestration import OPEN_BATCH, UNFINISHED_WORKFLOW
from web.common.inserted import attach

QUOTA_RETRY_AFTER_SECONDS = 10
# The first number of the two-number advisory lock on a user (the second is the user's id).
# Two-number keys are their own space: `python -m core migrate`'s one-number lock cannot collide.
QUOTA_LOCK_SPACE = 0x41756C61  # "Aula"
P = TypeVar("P", bound=Payload)
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(QUOTA_LOCK_SPACE, sa.bindparam("owner_id", type_=sa.Integer)))


class QuotaExceeded(Exception):
    def __init__(self, limit: int):
        self.limit = limit
        self.retry_after = QUOTA_RETRY_AFTER_SECONDS
        super().__init__(
            f"you already have {limit} requests in progress; wait for one to finish (or cancel one) and try again"
        )


@dataclass(frozen=True)
class Submitted:
    job: Job
    created: bool


def _at_most(rows: sa.Select, limit: Any) -> sa.ScalarSelect:
    """How many rows `rows` has, counting no further than `limit`."""
    return sa.select(sa.func.count()).select_from(rows.limit(limit).subquery()).scalar_subquery()


def in_flight_below(owner_id: Any, limit: Any) -> sa.ColumnElement[bool]:
    """Whether the user has fewer than `limit` requests in flight: their own top-level jobs (not
    fan-out children or workflow steps, which they did not ask for one by one), fan-outs whose
    children are still being sent (a published activity until its last email), and running
    workflows. A fan-out job and the batch it starts never count together: the batch is
    committed with the job's success. Each part reads at most `limit` entries of its index.
    `owner_id` and `limit` are values, or bind parameters of a statement built once."""
    one = sa.literal_column("1")
    jobs = sa.select(one).select_from(Job).where(Job.owner_id == owner_id, sa.text(ASKED_IN_FLIGHT))
    batches = sa.select(one).select_from(Batch).where(Batch.owner_id == owner_id, sa.text(OPEN_BATCH))
    flows = sa.select(one).select_from(Workflow).where(Workflow.owner_id == owner_id, sa.text(UNFINISHED_WORKFLOW))
    return _at_most(jobs, limit) + _at_most(batches, limit) + _at_most(flows, limit) < limit


def lock_owner(session: Session, owner_id: int) -> None:
    """Serialise one user's requests until the caller's transaction ends, so counting what is in
    flight and the insert that follows are one step. PostgreSQL: a transaction-scoped advisory
    lock on the user (no row is written). SQLite: its database-wide writer lock, taken by a
    write that changes nothing (a later write would be too late: it must come before the count)."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_LOCK, {"owner_id": owner_id})
    else:
        session.execute(sa.update(User).where(User.id == owner_id).values(role=User.role)
                        .execution_options(synchronize_session=False))


def owner_lock(owner_id: Any) -> sa.CTE:
    """PostgreSQL: `lock_owner` as a CTE (one row), for an earlier statement of the transaction
    to join, so the counting INSERT needs no statement of its own for the lock (pass
    `locked=True` to `add_job`). It may be taken even when that statement finds no row; the
    caller rolls back then, which lets it go."""
    return sa.select(sa.func.pg_advisory_xact_lock(QUOTA_LOCK_SPACE, owner_id).label("locked")).cte("owner_lock")


def check_quota(session: Session, owner_id: int, limit: int) -> None:
    """Raise QuotaExceeded at the cap. For work that is not a single job row (a seed's workflow):
    holds the user's lock until the caller commits or rolls back, so its insert still counts."""
    lock_owner(session, owner_id)
    if not session.scalar(sa.select(in_flight_below(owner_id, limit))):
        raise QuotaExceeded(limit)


def add_job(session: Session, job_type: JobType[P], payload: P, owner_id: int, limit: int | None, *,
            locked: bool = False) -> Job | None:
    """Insert a queued job in one statement, only while the user has fewer than `limit` requests
    in flight (None: no cap, for arranging data) and, for a type that coalesces, only if no
    identical request is open. Returns the job (remembered for sending after commit), or None
    when it was not inserted: over the cap, or an identical job is open. `locked`: an earlier
    statement of this transaction took the user's lock already (`owner_lock`)."""
    declared, data = stored_payload(job_type, payload)
    return _insert_job(session, declared, data, owner_id, limit, locked=locked)


# The columns a new job's INSERT sets; the rest stay NULL (web.common.inserted.attach says so).
_JOB_COLUMNS = ("id", "type", "payload", "owner_id", "state", "attempts", "progress", "trace_id", "created_at",
                "dedupe_key")
_job_inserts: dict[tuple[str, bool, bool], sa.Insert] = {}


def _job_insert(dialect: str, coalesce: bool, capped: bool) -> sa.Insert:
    """INSERT INTO jobs ... SELECT <the row> WHERE <below the cap>, [ON CONFLICT (open identical
    request) DO NOTHING]: built once per variant, so a request only binds its values."""
    key = (dialect, coalesce, capped)
    statement = _job_inserts.get(key)
    if statement is None:
        table = Job.__table__
        row = sa.select(*(sa.bindparam(name, type_=table.c[name].type) for name in _JOB_COLUMNS))
        limit = sa.bindparam("limit", type_=sa.Integer)
        # Always a WHERE: SQLite needs one between an INSERT's SELECT and its ON CONFLICT.
        row = row.where(in_flight_below(sa.bindparam("owner_id", type_=sa.Integer), limit) if capped else sa.true())
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table).from_select(_JOB_COLUMNS, row)
        if coalesce:
            statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"],
                                                         index_where=sa.text(OPEN_DEDUPE))
        statement = _job_inserts[key] = statement.execution_options(preserve_rowcount=True)
    return statement


def _insert_job(session: Session, declared: JobType, data: dict[str, Any], owner_id: int,
                limit: int | None, *, locked: bool = False) -> Job | None:
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "type": declared.name, "payload": data, "owner_id": owner_id, "state": "queued",
        "attempts": 0, "progress": 0, "trace_id": uuid.uuid4().hex, "created_at": utcnow(),
        "dedupe_key": dedupe_key(declared.name, owner_id, data) if declared.coalesce else None,
    }
    connection = session.connection()
    dialect = connection.dialect.name
    if limit is not None and dialect == "postgresql" and not locked:
        lock_owner(session, owner_id)  # SQLite: the INSERT below takes the writer lock before it counts
    statement = _job_insert(dialect, declared.coalesce, limit is not None)
    if connection.execute(statement, {**values, "limit": limit}).rowcount != 1:
        return None
    job = attach(session, Job, values)
    requeue(session, job)  # its message goes out once the caller's transaction commits
    return job


def _open_duplicate(session: Session, key: str) -> Job | None:
    # The index's own condition, so the lookup is the unique index's (core/models/jobs.py).
    return session.scalar(sa.select(Job).where(Job.dedupe_key == key, sa.text(OPEN_DEDUPE)))


def submit(session: Session, job_type: JobType[P], payload: P, owner_id: int, limit: int) -> Submitted:
    """The open identical job when the type coalesces and one exists (even at the cap), else a
    new job under the user's cap (QuotaExceeded beyond it). The caller commits and sends.

    An identical request is answered by one indexed read, before and without the user's lock:
    asking again is the cheapest request there is."""
    declared, data = stored_payload(job_type, payload)
    key = dedupe_key(declared.name, owner_id, data) if declared.coalesce else None
    # A coalescing type gets a second round when the unique index stopped its INSERT: either an
    # identical request committed its job after the read (the read finds it now), or the job
    # that stopped ours has ended since (the worker finished it: insert again; now only the cap
    # can refuse).
    for _round in range(2 if key is not None else 1):
        if key is not None:
            existing = _open_duplicate(session, key)
            if existing is not None:
                return Submitted(existing, created=False)
        job = _insert_job(session, declared, data, owner_id, limit)
        if job is not None:
            return Submitted(job, created=True)
    raise QuotaExceeded(limit)
