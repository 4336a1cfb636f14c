"""Cancelling one of your jobs, for the API (POST /api/jobs/<id>/cancel) and the job page."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.lifecycle import request_cancel
from core.models import Job, User
from web.common.access import own_job


@dataclass(frozen=True)
class CancelRequest:
    job: Job
    # "cancelled" (it was open), "cancelling" (running: it stops at its next progress point),
    # or the terminal state it already had.
    outcome: str

    @property
    def accepted(self) -> bool:
        return self.outcome in ("cancelled", "cancelling")


def cancel_own_job(db: Session, user: User, job_id: str) -> CancelRequest | None:
    """Ask to cancel the user's job; None when it is not theirs (or does not exist). The caller
    commits and sends: a cancelled batch child or workflow step may have enqueued what follows."""
    job = own_job(db, user, job_id)
    if job is None:
        return None
    return CancelRequest(job, request_cancel(db, job.id, utcnow()))
