"""State transitions of a job, each one conditional UPDATE.

Each transition names the state it leaves, and those that end a run also name the attempt
that claimed the job (a fencing token): a run whose lease expired and was reclaimed can no
longer overwrite the outcome of the run that replaced it. Terminal states never change.

Reaching a terminal state also moves the job's batch and workflow on, in the same
transaction (`_finished`), so a follow-up or next step is enqueued exactly once.

The statements run on the `jobs` table itself (Core, not the ORM), and the two every message
pays for, the claim and the record of success, are built once at import with bound
parameters: a run costs two UPDATE ... RETURNING statements and their commits, and no
statement is compiled, or row loaded into the ORM, per message. RETURNING hands back what
the next step needs (the claimed row; the links a finished job moves on) in the same round trip.
"""
from __future__ import annotations

import functools
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from core.db import UTCDateTime
from core.jobs import batches, workflows
from core.jobs.types import JobType
from core.models import Job
from core.models.jobs import OPEN_STATES

_jobs = Job.__table__
_c = _jobs.c


@dataclass(frozen=True)
class ClaimedJob:
    """The job row as the claim left it: what a run needs, returned by the claim itself.
    `next_attempt_at` is when this attempt fell due (None for a first attempt that was due at
    once); it stays on the row while the job runs and is cleared when the run ends."""

    id: uuid.UUID
    type: str
    payload: dict[str, Any]
    owner_id: int | None
    attempts: int
    trace_id: str
    batch_id: uuid.UUID | None
    workflow_id: uuid.UUID | None
    step: str | None
    parent_id: uuid.UUID | None
    created_at: datetime
    next_attempt_at: datetime | None


_CLAIMED = tuple(_c[name] for name in ClaimedJob.__dataclass_fields__)
_now = sa.bindparam("now", type_=UTCDateTime())
_CLAIM = (
    sa.update(_jobs)
    .where(
        _c.id == sa.bindparam("job_id"),
        # A message naming another type than the row's claims nothing (the runner answers 422).
        _c.type == sa.bindparam("type_name"),
        sa.or_(
            # state = ... OR state = ...: an IN list would be re-expanded on every execution.
            sa.and_(sa.or_(*(_c.state == state for state in OPEN_STATES)),
                    sa.or_(_c.next_attempt_at.is_(None), _c.next_attempt_at <= _now)),
            # A run whose worker died is taken over, but only while the job type allows another attempt.
            sa.and_(_c.state == "running", _c.lease_expires_at < _now, _c.attempts < sa.bindparam("max_attempts")),
        ),
    )
    .values(
        state="running",
        attempts=_c.attempts + 1,
        started_at=sa.func.coalesce(_c.started_at, _now),
        lease_expires_at=sa.bindparam("lease_until", type_=UTCDateTime()),
        # Which worker runs this attempt (the attempt history, core/models/ops.py, records it).
        claimed_by=sa.bindparam("claimer", type_=sa.String()),
    )
    .returning(*_CLAIMED)
)
# set_config(..., true) lasts until the end of the claim's transaction, and RETURNING runs it only
# when a row was claimed: no extra round trip for a SET LOCAL.
_CLAIM_ASYNC_COMMIT = _CLAIM.returning(sa.func.set_config("synchronous_commit", "off", True))
# What a job's end hands to its batch and workflow.
_FINISHED = (_c.type, _c.payload, _c.batch_id, _c.workflow_id, _c.step, _c.result, _c.error)
_SUCCEED = (
    sa.update(_jobs)
    .where(_c.id == sa.bindparam("job_id"), _c.state == "running", _c.attempts == sa.bindparam("attempt"))
    .values(state="succeeded", finished_at=_now, lease_expires_at=None, next_attempt_at=None, progress=100,
            result=sa.bindparam("result_value", type_=_c.result.type), error=None)
    .returning(*_FINISHED)
)


def _update(session: Session, job_id: uuid.UUID, *conditions: Any, **values: Any) -> bool:
    result = session.execute(sa.update(_jobs).where(_c.id == job_id, *conditions).values(**values))
    return result.rowcount == 1


def _finished(session: Session, row: Any, state: str, now: datetime) -> None:
    if row.batch_id is not None:
        batches.child_finished(session, row.batch_id, row.type, row.payload, state, row.result, now)
    if row.workflow_id is not None and row.step is not None:
        workflows.step_finished(session, row.workflow_id, row.step, state, row.result or {}, row.error, now)


def _end(session: Session, job_id: uuid.UUID, conditions: tuple[Any, ...], state: str, now: datetime, **values: Any) -> bool:
    row = session.execute(
        sa.update(_jobs)
        .where(_c.id == job_id, *conditions)
        .values(state=state, finished_at=now, lease_expires_at=None, next_attempt_at=None, **values)
        .returning(*_FINISHED)
    ).one_or_none()
    if row is None:
        return False
    _finished(session, row, state, now)
    return True


def lease_expired_error(attempts: int, gave_up: bool) -> str:
    error = f"attempt {attempts} stopped reporting (lease expired); the worker was probably killed"
    return f"gave up after {attempts} attempts: {error}" if gave_up else error


def claim_run(db: Session | Connection, job_id: uuid.UUID, job_type: JobType, now: datetime) -> ClaimedJob | None:
    """Take a job of `job_type` for one attempt and commit; return the row as claimed, or None if
    it is not claimable (another type, running under a live lease, finished, a retry that is not
    due yet, or a run whose lease expired on its last attempt: `give_up_expired` ends that one).

    On PostgreSQL the claim commits without waiting for its WAL to reach the disk
    (synchronous_commit off, for this one transaction): the run's outcome is committed durably
    before sqsd gets its 200, and that flush covers the claim too. A claim lost to a crash of the
    database before then leaves the job claimable again, exactly as if this worker had died.
    On a connection outside a transaction, it is one statement in autocommit: no BEGIN and
    COMMIT round trips around it."""
    params = {"job_id": job_id, "type_name": job_type.name, "now": now, "max_attempts": job_type.max_attempts,
              "lease_until": now + job_type.lease, "claimer": claimer()}
    dialect = _dialect(db)
    if dialect == "postgresql":
        row = _one_statement(db, _CLAIM_ASYNC_COMMIT, params)
    elif dialect == "sqlite" and isinstance(db, Connection) and not db.in_transaction():
        row = _sqlite_claim_without_sync(db, params)
    else:
        row = _one_statement(db, _CLAIM, params)
    return None if row is None else ClaimedJob(*row[:len(_CLAIMED)])


def _sqlite_claim_without_sync(connection: Connection, params: dict[str, Any]) -> Any:
    """SQLite's counterpart of the asynchronous claim (local development and benchmarks): in WAL
    mode, synchronous=NORMAL commits without syncing the log to disk; the outcome's commit, at
    the connection's own level again, syncs it, the claim included."""
    level = connection.info.get("aula_synchronous")
    if level is None:
        level = connection.info["aula_synchronous"] = int(connection.exec_driver_sql("PRAGMA synchronous").scalar())
    connection.exec_driver_sql("PRAGMA synchronous = NORMAL")
    try:
        row = _one_statement(connection, _CLAIM, params)
    finally:
        connection.exec_driver_sql(f"PRAGMA synchronous = {level:d}")
        connection.commit()  # the PRAGMAs' autobegun bookkeeping: the session must find none open
    return row


def claimer() -> str:
    """This process as the claim names it in jobs.claimed_by: "instance/pid"."""
    return _claimer(os.getpid())


@functools.lru_cache(maxsize=8)  # one per process; a forked gunicorn worker has its own pid
def _claimer(pid: int) -> str:
    return f"{socket.gethostname()}/{pid}"[:128]


def _dialect(db: Session | Connection) -> str:
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


def _one_statement(db: Session | Connection, statement: Any, params: dict[str, Any]) -> Any:
    """Run one statement as its own committed transaction; its first row."""
    if isinstance(db, Connection) and db.dialect.name == "postgresql" and not db.in_transaction():
        db.execution_options(isolation_level="AUTOCOMMIT")
        try:
            row = db.execute(statement, params).first()
            db.commit()  # ends SQLAlchemy's own bookkeeping; the database already committed
        finally:
            db.execution_options(isolation_level=db.default_isolation_level)
        return row
    row = db.execute(statement, params).first()
    db.commit()
    return row


def claim(session: Session, job_id: uuid.UUID, job_type: JobType, now: datetime) -> int | None:
    """`claim_run`, for callers that need only the attempt number."""
    claimed = claim_run(session, job_id, job_type, now)
    return None if claimed is None else claimed.attempts


def give_up_expired(session: Session, job_id: uuid.UUID, job_type: JobType, now: datetime) -> bool:
    """Fail a running job whose lease expired on its last allowed attempt (its worker keeps
    dying), moving its batch or workflow on like any failure. Does not commit. False if the job
    is not in that situation (anything else, or another delivery or the reclaim got there first)."""
    attempts = session.scalar(
        sa.select(_c.attempts).where(
            _c.id == job_id, _c.state == "running", _c.lease_expires_at < now, _c.attempts >= job_type.max_attempts
        )
    )
    if attempts is None:
        return False
    expired = (_c.state == "running", _c.lease_expires_at < now, _c.attempts == attempts)
    return _end(session, job_id, expired, "failed", now, error=lease_expired_error(attempts, gave_up=True))


def _owned(attempt: int) -> tuple[Any, ...]:
    return (_c.state == "running", _c.attempts == attempt)


def heartbeat(session: Session, job_id: uuid.UUID, attempt: int, progress: int, lease: timedelta, now: datetime) -> bool:
    """Record progress and extend the lease. False means stop: this run no longer owns the job,
    or its owner asked to cancel it."""
    ok = _update(
        session, job_id, *_owned(attempt), _c.cancel_requested_at.is_(None),
        progress=max(0, min(100, progress)), lease_expires_at=now + lease,
    )
    session.commit()
    return ok


def checkpoint(session: Session, job_id: uuid.UUID, attempt: int, progress: int, lease: timedelta, now: datetime,
               result: dict[str, Any] | None = None) -> str:
    """A progress point inside the handler's own transaction (the caller commits it with the
    handler's writes so far): records progress, extends the lease and, if given, a partial
    result. Returns "owned", "cancel_requested" (still owned: the caller commits, then stops), or
    "lost" (another run owns the job now; nothing was written to the job row)."""
    values: dict[str, Any] = {"progress": max(0, min(100, progress)), "lease_expires_at": now + lease}
    if result is not None:
        values["result"] = result
    row = session.execute(
        sa.update(_jobs).where(_c.id == job_id, *_owned(attempt)).values(**values).returning(_c.cancel_requested_at)
    ).first()
    if row is None:
        return "lost"
    return "owned" if row.cancel_requested_at is None else "cancel_requested"


# The outcomes below do not commit: the caller commits, so the handler's own writes, the
# outcome, and whatever it enqueues (follow-up, next step) land together or not at all.

def succeed(session: Session, job_id: uuid.UUID, attempt: int, result: dict[str, Any], now: datetime) -> bool:
    row = session.execute(_SUCCEED, {"job_id": job_id, "attempt": attempt, "now": now, "result_value": result}).first()
    if row is None:
        return False
    _finished(session, row, "succeeded", now)
    return True


def succeed_alone(connection: Connection, job_id: uuid.UUID, attempt: int, result: dict[str, Any],
                  now: datetime) -> bool:
    """`succeed` for a run whose success is the whole unit of work: its handler wrote nothing and
    the job has no batch or workflow to move on (the claimed row says so; those links never
    change). Committed at once, durably, in one statement."""
    return _one_statement(connection, _SUCCEED, {"job_id": job_id, "attempt": attempt, "now": now,
                                                 "result_value": result}) is not None


def fail(session: Session, job_id: uuid.UUID, attempt: int, error: str, now: datetime) -> bool:
    return _end(session, job_id, _owned(attempt), "failed", now, error=error[:4000])


def cancelled(session: Session, job_id: uuid.UUID, attempt: int, now: datetime) -> bool:
    """A running job stopped at a progress point because its owner asked."""
    conditions = (*_owned(attempt), _c.cancel_requested_at.is_not(None))
    return _end(session, job_id, conditions, "cancelled", now, error="cancelled by its owner while running")


def schedule_retry(session: Session, job_id: uuid.UUID, attempt: int, error: str, next_at: datetime) -> bool:
    """Back to the outbox: unpublished, due at `next_at`."""
    return _update(
        session, job_id, *_owned(attempt),
        state="retrying", error=error[:4000], next_attempt_at=next_at, published_at=None, lease_expires_at=None,
    )


def request_cancel(session: Session, job_id: uuid.UUID, now: datetime) -> str:
    """Cancel an open job at once; ask a running one to stop at its next progress point.
    Returns "cancelled", "cancelling", or the terminal state it already had."""
    if _end(session, job_id, (_c.state.in_(OPEN_STATES),), "cancelled", now, error="cancelled by its owner"):
        return "cancelled"
    if _update(session, job_id, _c.state == "running", cancel_requested_at=sa.func.coalesce(_c.cancel_requested_at, now)):
        return "cancelling"
    return session.scalar(sa.select(_c.state).where(_c.id == job_id)) or "missing"


def reclaim_stalled(session: Session, job_types: dict[str, JobType], now: datetime, limit: int = 500) -> int:
    """Requeue running jobs whose lease expired (worker killed, instance gone); fail those that
    used up their attempts. Safe to run concurrently: each row changes under its own condition."""
    stalled = session.execute(
        sa.select(_c.id, _c.type, _c.attempts)
        .where(_c.state == "running", _c.lease_expires_at < now)
        .limit(limit)
    ).all()
    changed = 0
    for job_id, type_name, attempts in stalled:
        job_type = job_types.get(type_name)
        expired = (_c.state == "running", _c.lease_expires_at < now, _c.attempts == attempts)
        if job_type is None:
            error = f"{lease_expired_error(attempts, gave_up=False)}; job type {type_name!r} is unknown here"
            changed += _end(session, job_id, expired, "failed", now, error=error)
        elif attempts >= job_type.max_attempts:
            changed += _end(session, job_id, expired, "failed", now, error=lease_expired_error(attempts, gave_up=True))
        else:
            changed += _update(
                session, job_id, *expired, state="retrying", error=lease_expired_error(attempts, gave_up=False),
                next_attempt_at=now, published_at=None, lease_expires_at=None,
            )
        session.commit()
    return changed
