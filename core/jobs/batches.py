"""Fan-out batches: N child jobs, counters, and one follow-up when the last child ends.

A batch counts units, not jobs: a child may stand for several (one email job per chunk of
recipients stands for each of its recipients), so `total`, `succeeded` and `failed` say how
many recipients were emailed, whatever the chunking. A child's payload class says how many
units a job of it stands for with a `batch_units(stored_payload)` classmethod (one when it has
none). When a child ends, it settles all of its units at once: as many as its result's
`batch_counts.succeeded` says succeeded (a succeeded child without it: all of them; any other
end without it: none), the rest failed. A child that does part of its work and then fails,
is cancelled or dies therefore counts what it did: it keeps `batch_counts` in its result as it
goes (worker/context.py `checkpoint`).

The transaction that makes a child terminal also counts it (one UPDATE ... RETURNING on the
batch row, which serialises concurrent completions on PostgreSQL's row lock and SQLite's
write lock). The one that brings the count to the total also sets `completed_at` under the
condition that it was still empty, and only that transaction enqueues the follow-up: exactly
once, whether children succeeded or failed.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.contract import JobType, Payload
from core.jobs.outbox import new_job, new_jobs, stored_payload
from core.jobs.types import JOB_TYPES
from core.models import Batch

# The key of a child's result that says how many of its units succeeded (see the docstring).
COUNTS = "batch_counts"


def units_of(job_type: str, payload: Mapping[str, Any]) -> int:
    """How many of its batch's units a child job of `job_type` with this stored payload stands for."""
    declared = JOB_TYPES.get(job_type)
    count = getattr(declared.payload, "batch_units", None) if declared is not None else None
    return max(1, int(count(payload))) if count is not None else 1


def settled(units: int, state: str, result: Mapping[str, Any] | None) -> tuple[int, int]:
    """(succeeded, failed) units of a child that ended in `state` with `result`."""
    counts = result.get(COUNTS) if isinstance(result, Mapping) else None
    done = counts.get("succeeded") if isinstance(counts, Mapping) else None
    if isinstance(done, int) and not isinstance(done, bool):
        succeeded = min(max(done, 0), units)
    else:
        succeeded = units if state == "succeeded" else 0
    return succeeded, units - succeeded


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
    stored = [stored_payload(job_type, payload) for job_type, payload in children]
    batch = Batch(
        id=uuid.uuid4(),
        owner_id=owner_id,
        parent_job_id=parent_job_id,
        key=key,
        description=description,
        total=sum(units_of(declared.name, data) for declared, data in stored),
        followup_type=followup_type.name if followup_type else None,
        followup_payload=followup_payload,
    )
    session.add(batch)
    session.flush()
    new_jobs(
        session,
        [
            {"type": declared, "payload": data, "owner_id": owner_id, "batch_id": batch.id, "parent_id": parent_job_id}
            for declared, data in stored
        ],
    )
    if not children:
        _complete(session, batch.id, utcnow())
    return batch


def child_finished(session: Session, batch_id: uuid.UUID, job_type: str, payload: Mapping[str, Any], state: str,
                   result: Mapping[str, Any] | None, now: datetime) -> None:
    """Count a child that just became terminal (in the transaction that made it so)."""
    succeeded, failed = settled(units_of(job_type, payload or {}), state, result)
    counts = session.execute(
        sa.update(Batch)
        .where(Batch.id == batch_id)
        .values(succeeded=Batch.succeeded + succeeded, failed=Batch.failed + failed)
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
