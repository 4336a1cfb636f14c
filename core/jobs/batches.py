"""Fan-out batches: N child jobs, counters, and one follow-up when the last child ends.

The transaction that makes a child terminal also counts it (one UPDATE ... RETURNING on the
batch row, which serialises concurrent completions on PostgreSQL's row lock and SQLite's
write lock). The one that brings the count to the total also sets `completed_at` under the
condition that it was still empty, and only that transaction enqueues the follow-up: exactly
once, whether children succeeded or failed.
"""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.contract import JobType, Payload
from core.jobs.outbox import new_job, new_jobs, stored_payload
from core.models import Batch


def start_batch(
    session: Session,
    *,
    owner_id: int | None,
    parent_job_id: uuid.UUID | None,
    key: str | None = None,
    description: str,
    children: list[tuple[JobType, Payload]],
    followup: tuple[JobType, Payload] | None = None,
) -> Batch:
    """A batch and its children. `key` (unique) is what other code finds the batch by; the
    follow-up's payload gets the batch's `summary` (a BatchSummary) when the last child ends."""
    followup_type, followup_payload = stored_payload(*followup) if followup else (None, {})
    batch = Batch(
        id=uuid.uuid4(),
        owner_id=owner_id,
        parent_job_id=parent_job_id,
        key=key,
        description=description,
        total=len(children),
        followup_type=followup_type.name if followup_type else None,
        followup_payload=followup_payload,
    )
    session.add(batch)
    session.flush()
    new_jobs(
        session,
        [
            {"type": job_type, "payload": payload, "owner_id": owner_id, "batch_id": batch.id, "parent_id": parent_job_id}
            for job_type, payload in children
        ],
    )
    if not children:
        _complete(session, batch.id, utcnow())
    return batch


def child_finished(session: Session, batch_id: uuid.UUID, succeeded: bool, now: datetime) -> None:
    counter = Batch.succeeded if succeeded else Batch.failed
    counts = session.execute(
        sa.update(Batch)
        .where(Batch.id == batch_id)
        .values({counter.key: counter + 1})
        .returning(Batch.total, Batch.succeeded, Batch.failed)
    ).one()
    if counts.succeeded + counts.failed >= counts.total:
        _complete(session, batch_id, now)


def _complete(session: Session, batch_id: uuid.UUID, now: datetime) -> None:
    done = session.execute(
        sa.update(Batch)
        .where(Batch.id == batch_id, Batch.completed_at.is_(None))
        .values(completed_at=now)
        .returning(Batch.owner_id, Batch.parent_job_id, Batch.followup_type, Batch.followup_payload,
                   Batch.total, Batch.succeeded, Batch.failed)
    ).one_or_none()
    if done is None or not done.followup_type:
        return
    summary = {"batch_id": str(batch_id), "total": done.total, "succeeded": done.succeeded, "failed": done.failed}
    followup = new_job(session, done.followup_type, {**done.followup_payload, "summary": summary},
                       owner_id=done.owner_id, parent_id=done.parent_job_id)
    session.execute(sa.update(Batch).where(Batch.id == batch_id).values(followup_job_id=followup.id))
