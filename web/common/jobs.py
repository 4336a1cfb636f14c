"""Cancelling one of your own jobs, for the API (POST /api/jobs/<id>/cancel) and the job page."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.lifecycle import request_cancel
from core.models import Job


@dataclass(frozen=True)
class CancelRequest:
    job: Job
    # "cancelled" (it was open), "cancelling" (running: it stops at its next progress point),
    # or the terminal state it already had.
    outcome: str

    @property
    def accepted(self) -> bool:
        return self.outcome in ("cancelled", "cancelling")


def cancel_job(db: Session, job: Job) -> CancelRequest:
    """Ask to cancel `job` (the caller found it with web.common.access.own_job). The caller commits
    and sends: a cancelled batch child or workflow step may have enqueued what follows."""
    return CancelRequest(job, request_cancel(db, job.id, utcnow()))
