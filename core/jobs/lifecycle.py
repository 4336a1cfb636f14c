"""State transitions of a job, each one conditional UPDATE.

Each transition names the state it leaves, and those that end a run also name the attempt
that claimed the job (a fencing token): a run whose lease expired and was reclaimed can no
longer overwrite the outcome of the run that replaced it. Terminal states never change.

Reaching a terminal state also moves the job's batch and workflow on, in the same
transaction (`_finished`), so a follow-up or next step is enqueued exactly once.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs import batches, workflows
from core.jobs.types import JobType
from core.models import Job
from core.models.jobs import OPEN_STATES


def _update(session: Session, job_id: uuid.UUID, *conditions: Any, **values: Any) -> bool:
    result = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _finished(session: Session, job_id: uuid.UUID, state: str, now: datetime) -> None:
    job = session.execute(
        sa.select(Job.batch_id, Job.workflow_id, Job.step, Job.result, Job.error).where(Job.id == job_id)
    ).one()
    if job.batch_id is not None:
        batches.child_finished(session, job.batch_id, state == "succeeded", now)
    if job.workflow_id is not None and job.step is not None:
        workflows.step_finished(session, job.workflow_id, job.step, state, job.result or {}, job.error, now)


def _end(session: Session, job_id: uuid.UUID, conditions: tuple[Any, ...], state: str, now: datetime, **values: Any) -> bool:
    ended = _update(session, job_id, *conditions, state=state, finished_at=now, lease_expires_at=None, **values)
    if ended:
        _finished(session, job_id, state, now)
    return ended


def lease_expired_error(attempts: int, gave_up: bool) -> str:
    error = f"attempt {attempts} stopped reporting (lease expired); the worker was probably killed"
    return f"gave up after {attempts} attempts: {error}" if gave_up else error


def claim(session: Session, job_id: uuid.UUID, job_type: JobType, now: datetime) -> int | None:
    """Take the job for one attempt; return the attempt number, or None if it is not claimable
    (running under a live lease, finished, a retry that is not due yet, or a run whose lease
    expired on its last attempt: `give_up_expired` ends that one)."""
    claimable = sa.or_(
        sa.and_(Job.state.in_(OPEN_STATES), sa.or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now)),
        # A run whose worker died is taken over, but only while the job type allows another attempt.
        sa.and_(Job.state == "running", Job.lease_expires_at < now, Job.attempts < job_type.max_attempts),
    )
    claimed = _update(
        session,
        job_id,
        claimable,
        state="running",
        attempts=Job.attempts + 1,
        started_at=sa.func.coalesce(Job.started_at, now),
        lease_expires_at=now + job_type.lease,
        next_attempt_at=None,
    )
    session.commit()
    if not claimed:
        return None
    return session.scalar(sa.select(Job.attempts).where(Job.id == job_id))


def give_up_expired(session: Session, job_id: uuid.UUID, job_type: JobType, now: datetime) -> bool:
    """Fail a running job whose lease expired on its last allowed attempt (its worker keeps
    dying), moving its batch or workflow on like any failure. Does not commit. False if the job
    is not in that situation (anything else, or another delivery or the reclaim got there first)."""
    attempts = session.scalar(
        sa.select(Job.attempts).where(
            Job.id == job_id, Job.state == "running", Job.lease_expires_at < now, Job.attempts >= job_type.max_attempts
        )
    )
    if attempts is None:
        return False
    expired = (Job.state == "running", Job.lease_expires_at < now, Job.attempts == attempts)
    return _end(session, job_id, expired, "failed", now, error=lease_expired_error(attempts, gave_up=True))


def _owned(attempt: int) -> tuple[Any, ...]:
    return (Job.state == "running", Job.attempts == attempt)


def heartbeat(session: Session, job_id: uuid.UUID, attempt: int, progress: int, lease: timedelta, now: datetime) -> bool:
    """Record progress and extend the lease. False means stop: this run no longer owns the job,
    or its owner asked to cancel it."""
    ok = _update(
        session, job_id, *_owned(attempt), Job.cancel_requested_at.is_(None),
        progress=max(0, min(100, progress)), lease_expires_at=now + lease,
    )
    session.commit()
    return ok


# The outcomes below do not commit: the caller commits, so the handler's own writes, the
# outcome, and whatever it enqueues (follow-up, next step) land together or not at all.

def succeed(session: Session, job_id: uuid.UUID, attempt: int, result: dict[str, Any], now: datetime) -> bool:
    return _end(session, job_id, _owned(attempt), "succeeded", now, progress=100, result=result, error=None)


def fail(session: Session, job_id: uuid.UUID, attempt: int, error: str, now: datetime) -> bool:
    return _end(session, job_id, _owned(attempt), "failed", now, error=error[:4000])


def cancelled(session: Session, job_id: uuid.UUID, attempt: int, now: datetime) -> bool:
    """A running job stopped at a progress point because its owner asked."""
    conditions = (*_owned(attempt), Job.cancel_requested_at.is_not(None))
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
    if _end(session, job_id, (Job.state.in_(OPEN_STATES),), "cancelled", now, error="cancelled by its owner"):
        return "cancelled"
    if _update(session, job_id, Job.state == "running", cancel_requested_at=sa.func.coalesce(Job.cancel_requested_at, now)):
        return "cancelling"
    return session.scalar(sa.select(Job.state).where(Job.id == job_id)) or "missing"


def reclaim_stalled(session: Session, job_types: dict[str, JobType], now: datetime, limit: int = 500) -> int:
    """Requeue running jobs whose lease expired (worker killed, instance gone); fail those that
    used up their attempts. Safe to run concurrently: each row changes under its own condition."""
    stalled = session.execute(
        sa.select(Job.id, Job.type, Job.attempts)
        .where(Job.state == "running", Job.lease_expires_at < now)
        .limit(limit)
    ).all()
    changed = 0
    for job_id, type_name, attempts in stalled:
        job_type = job_types.get(type_name)
        expired = (Job.state == "running", Job.lease_expires_at < now, Job.attempts == attempts)
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
