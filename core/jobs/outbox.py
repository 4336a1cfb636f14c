"""The transactional outbox: create job rows with the change that causes them, send their
messages right after commit, and let the relay send whatever that fast path could not.

Every job created in a session is remembered on the session; once the transaction committed,
`commit_and_send` hands them to the web tier's background sender (core.jobs.sender) or, where
the queue has none, `flush` sends them before returning. A rollback forgets them. Sending twice
is allowed (the worker's claim is idempotent); never sending is not.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs import pauses
from core.jobs.contract import JobType, Payload
from core.jobs.envelope import Envelope
from core.jobs.queue import MAX_DELAY_SECONDS, SqsQueue
from core.jobs.types import JOB_TYPES
from core.models import Job
from core.models.jobs import OPEN_STATES

if TYPE_CHECKING:
    from core.jobs.sender import Sender

log = logging.getLogger(__name__)
_PENDING = "aula_outbox_pending"  # created in the open transaction
_COMMITTED = "aula_outbox_committed"  # committed, not yet sent


def dedupe_key(job_type: str, owner_id: int | None, payload: dict[str, Any]) -> str:
    """Identical requests (same type, owner and payload) share a key."""
    canonical = json.dumps([job_type, owner_id, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _remember(session: Session, envelope: Envelope, next_attempt_at: datetime | None = None) -> None:
    session.info.setdefault(_PENDING, []).append((envelope, next_attempt_at))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_COMMITTED, []).extend(pending)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous_transaction: Any) -> None:
    # Jobs of a rolled-back transaction do not exist; never send their messages.
    session.info.pop(_PENDING, None)


def _declared(job_type: JobType | str) -> JobType:
    declared = JOB_TYPES.get(job_type if isinstance(job_type, str) else job_type.name)
    if declared is None or (not isinstance(job_type, str) and declared is not job_type):
        raise ValueError(f"job type {job_type!r} is not declared in core/jobs/types.py")
    return declared


def stored_payload(job_type: JobType | str, payload: Payload | dict[str, Any]) -> tuple[JobType, dict[str, Any]]:
    """The declaration and the JSON a job row stores. A dict is validated by the type's payload
    class first, so no job is ever created with a payload its handler would refuse."""
    declared = _declared(job_type)
    typed = payload if isinstance(payload, Payload) else declared.parse(payload)
    return declared, declared.dump(typed)


def new_job(
    session: Session,
    job_type: JobType | str,
    payload: Payload | dict[str, Any],
    owner_id: int | None,
    *,
    coalesce: bool = False,
    **links: Any,
) -> Job:
    """Add a queued job to the session; the caller commits it with its own change."""
    declared, data = stored_payload(job_type, payload)
    job = Job(id=uuid.uuid4(), type=declared.name, payload=data, owner_id=owner_id, state="queued", **links)
    job.trace_id = uuid.uuid4().hex
    if coalesce:
        job.dedupe_key = dedupe_key(declared.name, owner_id, data)
    session.add(job)
    _remember(session, envelope_for(job), job.next_attempt_at)
    return job


def new_jobs(session: Session, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Bulk-insert queued jobs (fan-out children) in one statement; each row needs `type` (a
    declaration or its name), `payload` and `owner_id`, and may carry links (batch_id, ...)."""
    ids = []
    for row in rows:
        declared, row["payload"] = stored_payload(row["type"], row["payload"])
        row["type"] = declared.name
        row.setdefault("id", uuid.uuid4())
        row.setdefault("trace_id", uuid.uuid4().hex)
        row.setdefault("state", "queued")
        ids.append(row["id"])
        _remember(session, Envelope(job_id=row["id"], type=row["type"], trace_id=row["trace_id"]))
    if rows:
        session.execute(sa.insert(Job), rows)
    return ids


def requeue(session: Session, job: Job) -> None:
    """Remember an existing job (a scheduled retry) for sending after commit."""
    _remember(session, envelope_for(job), job.next_attempt_at)


def envelope_for(job: Job) -> Envelope:
    return Envelope(job_id=job.id, type=job.type, trace_id=job.trace_id)


def delay_seconds(next_attempt_at: datetime | None, now: datetime) -> int:
    """The DelaySeconds that makes a message arrive when its job is due (rounded up)."""
    if next_attempt_at is None:
        return 0
    return max(0, int((next_attempt_at - now).total_seconds() + 0.999))


def mark_published(session: Session, job_ids: Iterable[uuid.UUID], now: datetime) -> None:
    job_ids = list(job_ids)
    for start in range(0, len(job_ids), 500):
        session.execute(
            sa.update(Job)
            .where(Job.id.in_(job_ids[start : start + 500]), Job.published_at.is_(None))
            .values(published_at=now)
            .execution_options(synchronize_session=False)
        )


def commit_and_send(session: Session, queue: SqsQueue) -> int:
    """The one send point for a unit of work: commit it, then pass on the messages of the jobs it
    created (the fast path; the relay sends whatever this could not). With a background sender
    on the queue (the web tier) they are handed over and the caller never waits for SQS;
    otherwise they are sent now. Returns how many were handed over or sent."""
    session.commit()
    if queue.sender is None:
        return flush(session, queue)
    return hand_over(session, queue.sender)


def _due(session: Session) -> list[tuple[Envelope, datetime | None]]:
    """The messages this session committed and not yet passed on, except those due beyond SQS's
    delay window: the relay sends them once they come within it."""
    pending = session.info.pop(_COMMITTED, [])
    if not pending:
        return []
    now = utcnow()
    held = _paused(session)
    return [(envelope, at) for envelope, at in pending
            if delay_seconds(at, now) <= MAX_DELAY_SECONDS and envelope.type not in held]


def _paused(session: Session) -> frozenset[str]:
    """The paused types, whose messages stay unsent (the rows stay unpublished; the relay sends
    them once resumed). Not knowing is not a reason to hold every message back: the worker
    acknowledges a paused type's delivery anyway."""
    try:
        return pauses.paused_types(session)
    except Exception:
        log.warning("paused job types unknown; sending every message", exc_info=True)
        return frozenset()


def hand_over(session: Session, sender: Sender) -> int:
    """Give the messages this session committed to the background sender, without waiting.
    What it has no room for stays unpublished, for the relay. Never raises, like `flush`."""
    items = _due(session)
    try:
        return sender.hand_over(items)
    except Exception:  # e.g. no thread could be started: the relay sends them
        log.warning("%d job messages not handed over; the outbox relay will send them", len(items), exc_info=True)
        return 0


def flush(session: Session, queue: SqsQueue) -> int:
    """The fast path, synchronous: send the messages of the jobs this session committed before
    returning. Never raises: a failure leaves the rows unpublished for the relay, and what the
    user was told stays true."""
    items = _due(session)
    if not items:
        return 0
    now = utcnow()
    due = [(envelope, delay_seconds(at, now)) for envelope, at in items]
    try:
        sent = queue.send_many(due)
    except Exception:
        log.warning("%d job messages not sent; the outbox relay will send them", len(due), exc_info=True)
        return 0
    try:
        mark_published(session, (uuid.UUID(job_id) for job_id in sent), now)
        session.commit()
    except Exception:
        session.rollback()  # sent but not marked: the relay may send a duplicate, which is harmless
        log.warning("sent job messages could not be marked published", exc_info=True)
    return len(sent)


def resend_not_due(session: Session, queue: SqsQueue, job: Job, now: datetime) -> int | None:
    """A delivery came before `job` was due (an early copy of a scheduled retry, clocks that
    differ between instances): the caller is about to answer 200, which deletes that message,
    so it must not be the job's last one. Send another for the time that remains and return
    its delay; beyond SQS's delay window, mark the job unpublished instead (the relay sends it
    once it is due within the window) and return None. Raises when neither worked: then the
    caller must not answer 200, and sqsd delivers the message again."""
    delay = delay_seconds(job.next_attempt_at, now)
    if delay <= MAX_DELAY_SECONDS:
        # At least a second, so a copy that is due a moment from now does not come straight back.
        delay = max(delay, 1)
        queue.send(envelope_for(job), delay)
        return delay
    session.execute(
        sa.update(Job)
        .where(Job.id == job.id, Job.state.in_(OPEN_STATES), Job.next_attempt_at == job.next_attempt_at)
        .values(published_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return None


# How late a due job may be before its message counts as lost: a healthy queue delivers a due
# message within seconds, so a minute means the message is gone (deleted, or expired).
LOST_AFTER = timedelta(minutes=1)
# After re-sending, wait this long before re-sending again, so a backlog (messages late, not
# lost) gets at most one extra message per job in that time.
RESEND_INTERVAL = timedelta(minutes=10)


def unpublish_lost(session: Session, now: datetime, *, limit: int = 500) -> int:
    """Open jobs that fell due more than LOST_AFTER ago and whose message was sent but never
    ran them (it was lost: an early copy answered by an older release, a purged queue, sqsd's
    RetentionPeriod): mark them unpublished, for the relay to send again. Sending twice
    is harmless, the claim makes the second delivery a no-op. A job is marked again only after
    RESEND_INTERVAL (the relay sets `published_at` when it sends, after the job fell due)."""
    lost = sa.and_(
        Job.state.in_(OPEN_STATES),
        Job.published_at.is_not(None),
        # A dead-lettered message is not lost: it waits in the DLQ for an operator's redrive.
        Job.dead_lettered_at.is_(None),
        # A paused type's message is acknowledged unclaimed on purpose; resuming sends it again.
        pauses.not_paused(),
        Job.next_attempt_at < now - LOST_AFTER,
        sa.or_(Job.published_at <= Job.next_attempt_at, Job.published_at < now - RESEND_INTERVAL),
    )
    job_ids = session.scalars(sa.select(Job.id).where(lost).limit(limit)).all()
    if not job_ids:
        return 0
    result = session.execute(
        sa.update(Job).where(Job.id.in_(job_ids), lost).values(published_at=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount:
        log.warning("%d due jobs had no message left (lost); sending them again", result.rowcount)
    return result.rowcount


def relay(session: Session, queue: SqsQueue, *, limit: int = 500) -> int:
    """Send open jobs that have no message yet, are due within SQS's delay window and are not of
    a paused type (core/jobs/pauses.py), oldest first."""
    now = utcnow()
    horizon = now + timedelta(seconds=MAX_DELAY_SECONDS)
    jobs = session.execute(
        sa.select(Job.id, Job.type, Job.trace_id, Job.next_attempt_at)
        .where(
            Job.state.in_(OPEN_STATES),
            Job.published_at.is_(None),
            sa.or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= horizon),
            # Sent, a paused type's message would only be acknowledged and the job unpublished
            # again, every minute: it waits for the resume instead.
            pauses.not_paused(),
        )
        .order_by(Job.created_at)
        .limit(limit)
    ).all()
    if not jobs:
        return 0
    sent = queue.send_many(
        (Envelope(job_id=j.id, type=j.type, trace_id=j.trace_id), delay_seconds(j.next_attempt_at, now)) for j in jobs
    )
    mark_published(session, (uuid.UUID(job_id) for job_id in sent), now)
    session.commit()
    if len(sent) < len(jobs):
        log.warning("outbox relay: %d of %d messages refused by SQS", len(jobs) - len(sent), len(jobs))
    return len(sent)
