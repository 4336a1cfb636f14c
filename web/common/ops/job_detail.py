"""One job as the console shows it (GET /api/ops/jobs/<id> and /ops/jobs/<id>): the payload and
result redacted (web/common/ops/job_redaction.py), its timings and every attempt
(core.jobs.stats.attempts: job_attempts keeps them all, not only the last error), and its
lineage both ways: where it came from (jobs.origin, or derived from its links for rows older
than the column), its parent and children, the batch it belongs to and the batches it created,
its workflow step, what it reprocesses and its reprocess copies.

Every linked job is read through the viewer's scope: an admin sees the links to their own
institution's jobs only (a periodic parent, with no owner, is not among them). Each list of links
is capped (LINKS), the children read by ix_jobs_parent and the copies by ix_jobs_reprocess_of.
"""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs import pauses, stats
from core.jobs.ops_jobs_actions import IS_COPY, REPROCESSABLE
from core.jobs.types import JOB_TYPES, OPS_BULK
from core.models import Batch, Job, User, Workflow
from core.models.jobs import HAS_PARENT, OPEN_STATES, TERMINAL_STATES
from web.common.access import as_uuid
from web.common.dates import iso
from web.common.ops.access import is_operator, jobs_in_scope
from web.common.ops.job_redaction import redact, redact_text
from web.common.ops.jobs_list import duration, owners_of, queue_wait, row_json, seconds_between, type_label
from web.common.ops.pauses import described

LINKS = 50


def job_in_scope(session: Session, viewer: User, job_id: str) -> Job | None:
    """The job if `viewer` may see it; a bad id, a missing job and another institution's are all None."""
    key = as_uuid(job_id)
    if key is None:
        return None
    return session.scalars(sa.select(Job).where(Job.id == key, jobs_in_scope(viewer))).first()


def followup_of(session: Session, job: Job) -> Batch | None:
    """The batch whose completion created `job`, its follow-up (by ix_batches_followup_job)."""
    return session.scalars(sa.select(Batch).where(Batch.followup_job_id == job.id).limit(1)).first()


def batches_created(session: Session, job: Job) -> list[Batch]:
    """The batches `job` started, oldest first, by ix_batches_parent_job; few, capped all the same."""
    return list(session.scalars(sa.select(Batch).where(Batch.parent_job_id == job.id)
                                .order_by(Batch.created_at).limit(LINKS)))


def origin(session: Session, job: Job) -> tuple[str, bool]:
    """What created the job (core/models/jobs.py JOB_ORIGINS), and whether it was derived from its
    links (a row from before the column) rather than recorded."""
    if job.origin is not None:
        return job.origin, False
    if job.reprocess_of_id is not None:
        return "reprocess", True
    if job.workflow_id is not None:
        return "workflow", True
    if job.parent_id is not None or job.batch_id is not None:
        return "parent", True  # a fan-out child: its batch was started by the parent job
    if followup_of(session, job) is not None:
        return "batch", True
    return ("periodic" if job.owner_id is None else "request"), True


def _brief(job: Job) -> dict[str, Any]:
    return {"id": str(job.id), "type": job.type, "type_label": type_label(job.type), "state": job.state,
            "created_at": iso(job.created_at), "finished_at": iso(job.finished_at)}


def _batch(batch: Batch) -> dict[str, Any]:
    return {"id": str(batch.id), "description": batch.description, "total": batch.total,
            "succeeded": batch.succeeded, "failed": batch.failed, "created_at": iso(batch.created_at),
            "completed_at": iso(batch.completed_at), "followup_type": batch.followup_type,
            "followup_job_id": None if batch.followup_job_id is None else str(batch.followup_job_id)}


def _visible(session: Session, viewer: User, job_id: uuid.UUID | None) -> Job | None:
    if job_id is None:
        return None
    return session.scalars(sa.select(Job).where(Job.id == job_id, jobs_in_scope(viewer))).first()


def _capped(jobs: list[Job]) -> dict[str, Any]:
    return {"items": [_brief(j) for j in jobs[:LINKS]], "more": len(jobs) > LINKS}


def lineage(session: Session, viewer: User, job: Job) -> dict[str, Any]:
    scope = jobs_in_scope(viewer)
    children = list(session.scalars(
        sa.select(Job).where(Job.parent_id == job.id, sa.text(HAS_PARENT), scope)
        .order_by(Job.created_at, Job.id).limit(LINKS + 1)))
    copies = list(session.scalars(
        sa.select(Job).where(Job.reprocess_of_id == job.id, sa.text(IS_COPY), scope)
        .order_by(Job.created_at.desc(), Job.id.desc()).limit(LINKS + 1)))
    created = batches_created(session, job)
    batch = session.get(Batch, job.batch_id) if job.batch_id is not None else None
    completed = followup_of(session, job)
    workflow = session.get(Workflow, job.workflow_id) if job.workflow_id is not None else None
    parent = _visible(session, viewer, job.parent_id)
    if parent is None and batch is not None:
        parent = _visible(session, viewer, batch.parent_job_id)
    kind, derived = origin(session, job)
    return {
        "origin": kind,
        "origin_derived": derived,
        "parent": None if parent is None else _brief(parent),
        "children": _capped(children),
        "batch": None if batch is None else _batch(batch),
        "followup_of_batch": None if completed is None else _batch(completed),
        "batches_created": [_batch(b) for b in created],
        "workflow": None if workflow is None else {"id": str(workflow.id), "name": workflow.name,
                                                   "state": workflow.state, "step": job.step},
        "reprocess_of": None if (original := _visible(session, viewer, job.reprocess_of_id)) is None
        else _brief(original),
        "reprocess_copies": _capped(copies),
    }


def attempts_json(session: Session, job: Job, personal: bool) -> list[dict[str, Any]]:
    return [{"attempt": a.attempt, "started_at": iso(a.started_at), "finished_at": iso(a.finished_at),
             "seconds": seconds_between(a.started_at, a.finished_at), "outcome": a.outcome,
             "error": None if a.error is None else redact_text(a.error, personal),
             # The platform's hosts and processes are the operators' business, not an institution's.
             "worker": a.worker if personal else None}
            for a in stats.attempts(session, job.id)]


def bulk_progress(job: Job) -> dict[str, Any] | None:
    """An ops_bulk job's progress as its page's bar shows it (from the checkpointed result)."""
    if job.type != OPS_BULK.name:
        return None
    payload, result = job.payload or {}, job.result or {}
    total = result.get("total", payload.get("expected_count"))
    done = result.get("done", 0)
    return {"action": payload.get("action"), "filter": payload.get("filter", {}), "until": payload.get("until"),
            "expected_count": payload.get("expected_count"), "total": total, "done": done,
            "changed": result.get("changed", 0), "already": result.get("already", 0),
            "invalid": result.get("invalid", 0), "finished": bool(result.get("finished")),
            "percent": 100 if job.state == "succeeded" else job.progress}


def held_by_pause(session: Session, viewer: User, job: Job) -> dict[str, Any] | None:
    """Why a queued or retrying job waits when its type is paused: the pause as the overview
    shows it (who paused it to operators only). A running job of a paused type finishes, and a
    finished one is not held, so neither says so."""
    if job.state not in OPEN_STATES:
        return None
    entry = pauses.pause_of(session, job.type)
    return None if entry is None else described(session, entry, viewer)


def detail_json(session: Session, viewer: User, job: Job) -> dict[str, Any]:
    personal = is_operator(viewer)
    owner = owners_of(session, [job]).get(job.owner_id)
    declared = JOB_TYPES.get(job.type)
    body = row_json(job, owner, personal)
    body.update({
        "max_attempts": None if declared is None else declared.max_attempts,
        "payload": redact(job.payload or {}, personal),
        "result": None if job.result is None else redact(job.result, personal),
        "error": None if job.error is None else redact_text(job.error, personal),
        "trace_id": job.trace_id,
        "claimed_by": job.claimed_by if personal else None,
        "timings": {
            "created_at": iso(job.created_at), "published_at": iso(job.published_at),
            "started_at": iso(job.started_at), "finished_at": iso(job.finished_at),
            "next_attempt_at": iso(job.next_attempt_at), "lease_expires_at": iso(job.lease_expires_at),
            "cancel_requested_at": iso(job.cancel_requested_at), "dead_lettered_at": iso(job.dead_lettered_at),
            "queue_wait_seconds": queue_wait(job), "duration_seconds": duration(job),
        },
        "attempt_history": attempts_json(session, job, personal),
        "lineage": lineage(session, viewer, job),
        "actions": {"reprocess": job.state in REPROCESSABLE, "cancel": job.state not in TERMINAL_STATES},
        "bulk": bulk_progress(job),
        "paused": held_by_pause(session, viewer, job),
        "finished": job.state in TERMINAL_STATES,
    })
    return body
