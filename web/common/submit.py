"""What the web tier calls to ask for work: coalescing and per-user quotas.

Asking is cheap, doing is not. An identical request (same type, owner and payload) that is
already queued or running returns that job instead of a new one; the partial unique index
`uq_jobs_open_dedupe` stays the last line of defence. Beyond the user's cap on requests in
flight the answer is QuotaExceeded (the API's 429). Both checks are serialised per user
(`lock_owner`) in the transaction that inserts, so parallel requests cannot all pass them.
Nothing here commits: the caller commits its unit of work with outbox.commit_and_send.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.contract import JobType, Payload
from core.jobs.outbox import dedupe_key, new_job
from core.models import Batch, Job, User, Workflow
from core.models.jobs import OPEN_STATES
from core.models.orchestration import UNFINISHED_WORKFLOW_STATES

IN_FLIGHT = OPEN_STATES + ("running",)
QUOTA_RETRY_AFTER_SECONDS = 10
P = TypeVar("P", bound=Payload)


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


def requests_in_flight(session: Session, owner_id: int) -> int:
    """Requests the user made that are not finished: their own top-level jobs (not fan-out
    children or workflow steps, which they did not ask for one by one), fan-outs whose children
    are still being sent (a published activity until its last email), and running workflows.
    A fan-out job and the batch it starts never count together: the batch is committed with
    the job's success."""
    jobs = session.scalar(
        sa.select(sa.func.count(Job.id)).where(
            Job.owner_id == owner_id,
            Job.state.in_(IN_FLIGHT),
            Job.parent_id.is_(None),
            Job.batch_id.is_(None),
            Job.workflow_id.is_(None),
        )
    )
    flows = session.scalar(
        sa.select(sa.func.count(Workflow.id)).where(
            Workflow.owner_id == owner_id, Workflow.state.in_(UNFINISHED_WORKFLOW_STATES)
        )
    )
    batches = session.scalar(
        sa.select(sa.func.count(Batch.id)).where(Batch.owner_id == owner_id, Batch.completed_at.is_(None))
    )
    return (jobs or 0) + (flows or 0) + (batches or 0)


def lock_owner(session: Session, owner_id: int) -> None:
    """Serialise one user's requests until the caller's transaction ends, so the in-flight count
    and the insert that follows it are one step: PostgreSQL locks the user's row (FOR NO KEY
    UPDATE, which still lets other transactions insert rows that reference the user); SQLite
    takes its database-wide writer lock with a write that changes nothing."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(User.id).where(User.id == owner_id).with_for_update(key_share=True))
    else:
        session.execute(sa.update(User).where(User.id == owner_id).values(role=User.role)
                        .execution_options(synchronize_session=False))


def _open_duplicate(session: Session, key: str) -> Job | None:
    return session.scalar(sa.select(Job).where(Job.dedupe_key == key, Job.state.in_(IN_FLIGHT)))


def check_quota(session: Session, owner_id: int, limit: int) -> None:
    """Raise QuotaExceeded at the cap. Holds the user's lock until the caller commits or rolls back."""
    lock_owner(session, owner_id)
    if requests_in_flight(session, owner_id) >= limit:
        raise QuotaExceeded(limit)


def submit(session: Session, job_type: JobType[P], payload: P, owner_id: int, limit: int) -> Submitted:
    """The open identical job when the type coalesces and one exists, else a new job added to the
    session, after the quota check (QuotaExceeded). The caller commits and sends."""
    lock_owner(session, owner_id)
    if job_type.coalesce:
        existing = _open_duplicate(session, dedupe_key(job_type.name, owner_id, job_type.dump(payload)))
        if existing is not None:
            return Submitted(existing, created=False)
    check_quota(session, owner_id, limit)
    return Submitted(new_job(session, job_type, payload, owner_id, coalesce=job_type.coalesce), created=True)
