"""State transitions of a job, each one conditional UPDATE.

Each transition names the state it leaves, and finishing ones also name the attempt that
claimed the job (a fencing token): a run whose lease expired and was reclaimed can no longer
overwrite the outcome of the run that replaced it. Terminal states never change.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

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


def claim(session: Session, job_id: uuid.UUID, job_type: JobType, now: datetime) -> int | None:
    """Take the job for one attempt; return the attempt number, or None if it is not claimable
    (already running under a live lease, finished, or a retry that is not due yet)."""
    claimable = sa.or_(
        sa.and_(Job.state.in_(OPEN_STATES), sa.or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now)),
        sa.and_(Job.state == "running", Job.lease_expires_at < now),
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


def _owned(attempt: int) -> tuple[Any, ...]:
    return (Job.state == "running", Job.attempts == attempt)


def heartbeat(session: Session, job_id: uuid.UUID, attempt: int, progress: int, lease: timedelta, now: datetime) -> bool:
    """Record progress and extend the lease; False means this run no longer owns the job."""
    ok = _update(session, job_id, *_owned(attempt), progress=max(0, min(100, progress)), lease_expires_at=now + lease)
    session.commit()
    return ok


def succeed(session: Session, job_id: uuid.UUID, attempt: int, result: dict[str, Any], now: datetime) -> bool:
    """Caller commits, so the handler's own writes and the outcome land together."""
    return _update(
        session, job_id, *_owned(attempt),
        state="succeeded", progress=100, result=result, error=None, finished_at=now, lease_expires_at=None,
    )


def fail(session: Session, job_id: uuid.UUID, attempt: int | None, error: str, now: datetime, state: str = "failed") -> bool:
    conditions = _owned(attempt) if attempt is not None else (Job.state.in_(("running",) + OPEN_STATES),)
    return _update(session, job_id, *conditions, state=state, error=error[:4000], finished_at=now, lease_expires_at=None)


def schedule_retry(session: Session, job_id: uuid.UUID, attempt: int, error: str, next_at: datetime) -> bool:
    """Back to the outbox: unpublished, due at `next_at`."""
    return _update(
        session, job_id, *_owned(attempt),
        state="retrying", error=error[:4000], next_attempt_at=next_at, published_at=None, lease_expires_at=None,
    )


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
        error = f"attempt {attempts} stopped reporting (lease expired); the worker was probably killed"
        if job_type is None or attempts >= job_type.max_attempts:
            changed += _update(session, job_id, *expired, state="failed", error=error, finished_at=now, lease_expires_at=None)
        else:
            changed += _update(
                session, job_id, *expired,
                state="retrying", error=error, next_attempt_at=now, published_at=None, lease_expires_at=None,
            )
    session.commit()
    return changed
