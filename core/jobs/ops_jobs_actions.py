"""Reprocessing a job (issue 11, as in seed 004): a NEW job with the original's type, payload and
owner, linked to it by reprocess_of_id, origin "reprocess"; the original stays exactly as it was
(its state, error and attempts are the record of what happened). One recipe for the console's
single action (web/common/ops/job_actions.py) and the bulk job (worker/handlers/ops_bulk.py).

The copy carries no batch or workflow link: the batch or workflow the original belonged to has
counted it already (a batch completes once; a workflow moved on or compensated), so a copy that
reported to it again would corrupt its counts. A bulk action's copies have the bulk job as their
parent, which is how the bulk job finds what it already did after a restart.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.outbox import new_job, stored_payload
from core.models import Job

#: Only a job that ended without succeeding is reprocessed; anything else is a 409.
REPROCESSABLE = ("failed", "cancelled")
#: The states a bulk action changes (worker/handlers/ops_bulk.py); other matching jobs are left alone.
BULK_ACTS_ON = {"reprocess": REPROCESSABLE, "cancel": ("queued", "retrying", "running")}
#: Word for word the partial index ix_jobs_reprocess_of's condition (core/models/jobs.py).
IS_COPY = "reprocess_of_id IS NOT NULL"


def reprocess(session: Session, original: Job, *, parent_id: uuid.UUID | None = None) -> Job:
    """Add the copy of `original` to the session (not committed; commit_and_send sends it).
    Raises core.parsing.InputError when the stored payload no longer validates against its type,
    ValueError when the type is no longer declared."""
    return new_job(session, original.type, dict(original.payload or {}), original.owner_id,
                   reprocess_of_id=original.id, origin="reprocess", parent_id=parent_id)


def copy_row(original: Any, parent_id: uuid.UUID | None) -> dict[str, Any]:
    """The copy of `original` (a row with id, type, payload, owner_id) as a row for outbox.new_jobs,
    its payload validated (InputError or ValueError as for `reprocess`)."""
    declared, payload = stored_payload(original.type, dict(original.payload or {}))
    return {"type": declared.name, "payload": payload, "owner_id": original.owner_id,
            "reprocess_of_id": original.id, "origin": "reprocess", "parent_id": parent_id}


def copies(session: Session, original_id: uuid.UUID, limit: int) -> list[Job]:
    """`original`'s reprocess copies, newest first, at most `limit` (ix_jobs_reprocess_of)."""
    return list(session.scalars(
        sa.select(Job).where(Job.reprocess_of_id == original_id, sa.text(IS_COPY))
        .order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)))


def copied_by(session: Session, originals: Iterable[uuid.UUID], parent_id: uuid.UUID) -> set[uuid.UUID]:
    """Which of `originals` already have a copy whose parent is `parent_id` (a bulk job)."""
    originals = list(originals)
    if not originals:
        return set()
    return set(session.scalars(
        sa.select(Job.reprocess_of_id).where(Job.reprocess_of_id.in_(originals), sa.text(IS_COPY),
                                             Job.parent_id == parent_id)))


def in_flight_copy(session: Session, original_id: uuid.UUID) -> Job | None:
    """A copy of `original` that has not finished yet: a second click, or a second operator,
    would only create a duplicate of work already on its way."""
    return session.scalars(
        sa.select(Job).where(Job.reprocess_of_id == original_id, sa.text(IS_COPY),
                             Job.state.in_(("queued", "running", "retrying"))).limit(1)).first()
