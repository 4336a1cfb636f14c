"""The console's actions on one job (POST /api/ops/jobs/<id>/reprocess and /cancel, and the job
page's buttons). Institution admins may take them too, on the jobs in their scope (the caller
found the job with job_detail.job_in_scope). Each writes its audit entry in the action's own
transaction; the caller commits with commit_and_send, which sends the copy's message, or what a
cancelled batch child or workflow step enqueued.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.lifecycle import request_cancel
from core.jobs.ops_jobs_actions import REPROCESSABLE, in_flight_copy, reprocess
from core.models import Job, User
from core.parsing import InputError
from web.common.ops import audit
from web.common.refusal import Refusal


def reprocess_job(session: Session, actor: User, job: Job) -> Job:
    """A new job doing `job` again (the original stays as it was); 409 unless it failed or was
    cancelled, or while an earlier copy of it is still in flight."""
    if job.state not in REPROCESSABLE:
        raise Refusal(409, f"only a failed or cancelled job can be reprocessed; this one is {job.state}")
    pending = in_flight_copy(session, job.id)
    if pending is not None:
        raise Refusal(409, f"a reprocess copy of this job is still {pending.state}: wait for it to finish",
                      copy_id=str(pending.id))
    try:
        copy = reprocess(session, job)
    except (InputError, ValueError) as exc:
        reason = exc.message if isinstance(exc, InputError) else str(exc)
        raise Refusal(409, f"this job cannot be run again as it was stored: {reason}") from None
    session.flush()
    audit.record(session, actor, "job.reprocess", f"job:{job.id}", 1, copy_id=str(copy.id), type=job.type)
    return copy


@dataclass(frozen=True)
class Cancelled:
    job: Job
    outcome: str  # "cancelled" (it was waiting) or "cancelling" (it stops at its next progress point)


def cancel_job(session: Session, actor: User, job: Job) -> Cancelled:
    """Cancel `job`; 409 when it has finished already."""
    outcome = request_cancel(session, job.id, utcnow())
    if outcome not in ("cancelled", "cancelling"):
        raise Refusal(409, f"the job has finished already ({outcome}); there is nothing to cancel")
    audit.record(session, actor, "job.cancel", f"job:{job.id}", 1, outcome=outcome, type=job.type)
    return Cancelled(job, outcome)
