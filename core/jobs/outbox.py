"""The transactional outbox: create the job row with the change that causes it, send its
message right after commit, and let the relay send whatever that fast path could not.

Sending twice is allowed (the worker's claim is idempotent); never sending is not.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.envelope import Envelope
from core.jobs.queue import MAX_DELAY_SECONDS, SqsQueue
from core.jobs.types import JOB_TYPES
from core.models import Job
from core.models.jobs import OPEN_STATES

log = logging.getLogger(__name__)


def new_job(session: Session, job_type: str, payload: dict[str, Any], owner_id: int | None, **links: Any) -> Job:
    """Add a queued job to the session; the caller commits it with its own change."""
    if job_type not in JOB_TYPES:
        raise ValueError(f"unknown job type {job_type!r}")
    job = Job(id=uuid.uuid4(), type=job_type, payload=payload, owner_id=owner_id, state="queued", **links)
    session.add(job)
    return job


def envelope_for(job: Job) -> Envelope:
    return Envelope(job_id=job.id, type=job.type, trace_id=job.trace_id)


def _delay_for(job: Job, now: datetime) -> int:
    if job.next_attempt_at is None:
        return 0
    return max(0, int((job.next_attempt_at - now).total_seconds() + 0.999))


def _mark_published(session: Session, job_ids: list[uuid.UUID], now: datetime) -> None:
    session.execute(
        sa.update(Job)
        .where(Job.id.in_(job_ids), Job.published_at.is_(None))
        .values(published_at=now)
        .execution_options(synchronize_session=False)
    )


def publish_committed(session: Session, queue: SqsQueue, job: Job) -> bool:
    """The fast path, called after the job's transaction committed. Never raises: a failure
    leaves the row unpublished for the relay, and the user's 202 stays true."""
    now = utcnow()
    delay = _delay_for(job, now)
    if delay > MAX_DELAY_SECONDS:
        return False  # too far ahead for SQS; the relay publishes it when due
    try:
        queue.send(envelope_for(job), delay)
    except Exception:
        log.warning("job message not sent; the outbox relay will send it", exc_info=True, extra={"job_id": str(job.id)})
        session.rollback()
        return False
    _mark_published(session, [job.id], now)
    session.commit()
    return True


def relay(session: Session, queue: SqsQueue, *, limit: int = 500) -> int:
    """Send open jobs that have no message yet and are due within SQS's delay window.

    Runs as a periodic task; two overlapping runs may both send a row, which is harmless.
    """
    now = utcnow()
    horizon = now + timedelta(seconds=MAX_DELAY_SECONDS)
    jobs = session.scalars(
        sa.select(Job)
        .where(
            Job.state.in_(OPEN_STATES),
            Job.published_at.is_(None),
            sa.or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= horizon),
        )
        .order_by(Job.created_at)
        .limit(limit)
    ).all()
    if not jobs:
        return 0
    sent = queue.send_many((envelope_for(job), _delay_for(job, now)) for job in jobs)
    sent_ids = [job.id for job in jobs if str(job.id) in sent]
    if sent_ids:
        _mark_published(session, sent_ids, now)
    session.commit()
    if len(sent_ids) < len(jobs):
        log.warning("outbox relay: %d of %d messages refused by SQS", len(jobs) - len(sent_ids), len(jobs))
    return len(sent_ids)
