"""The JSON shapes of what the API returns and the pages' polling scripts read, written once."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.activities import activity_path
from core.jobs.workflows import UNDO, WORKFLOWS
from core.links import absolute
from core.models import Activity, Batch, Job, Notification, SchoolClass, User, Workflow
from web.common.dates import iso

# Part of every job ETag: a change to job_json's shape must change it, so that no client keeps
# a body of the old shape after a deploy.
JOB_JSON_VERSION = 1


def job_json(job: Job) -> dict[str, Any]:
    """`job` (a Job, or a row with its columns under the same names) as the API shows it; every
    field read here is also in `job_etag`."""
    result = None
    if job.result is not None:
        result = {k: v for k, v in job.result.items() if k != "file_key"}
        if "file_key" in job.result:
            result["download_url"] = f"/api/jobs/{job.id}/download"
    return {
        "id": str(job.id),
        "type": job.type,
        "state": job.state,
        "progress": job.progress,
        "attempts": job.attempts,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "error": job.error,
        "result": result,
    }


def job_etag(job: Job) -> str:
    """A strong ETag of job_json(job), from the fields it shows rather than from the body: an
    unchanged job answers 304 without being serialised."""
    result = None if job.result is None else json.dumps(job.result, sort_keys=True)
    fields = (JOB_JSON_VERSION, job.id, job.type, job.state, job.progress, job.attempts, job.created_at,
              job.started_at, job.finished_at, job.error, result)
    return hashlib.blake2b(repr(fields).encode(), digest_size=16).hexdigest()


def person_json(person: User) -> dict[str, Any]:
    return {"id": person.id, "full_name": person.full_name, "email": person.email}


def class_json(school_class: SchoolClass, teacher: User, students: int) -> dict[str, Any]:
    return {"id": school_class.id, "code": school_class.code, "name": school_class.name,
            "teacher": person_json(teacher), "students": students}


def activity_json(activity: Activity) -> dict[str, Any]:
    """An activity; its description is the plain text the teacher wrote (the page links its URLs)."""
    return {"id": activity.id, "class_id": activity.class_id, "title": activity.title,
            "description": activity.description, "due_at": iso(activity.due_at),
            "published_at": iso(activity.published_at), "status": activity.status,
            "publish_at": iso(activity.publish_at), "allow_late": bool(activity.allow_late),
            "updated_at": iso(activity.updated_at), "unpublished_at": iso(activity.unpublished_at),
            "path": activity_path(activity.id)}


def notification_json(n: Notification, base_url: str) -> dict[str, Any]:
    """A notification; `link` is the absolute URL of what it is about (PUBLIC_BASE_URL), or None."""
    link = None
    if n.link:
        try:
            link = absolute(base_url, n.link)
        except ValueError:  # a stored link that is not a path of this app is never handed out
            link = None
    return {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "activity_id": n.activity_id,
            "link": link, "created_at": iso(n.created_at), "read_at": iso(n.read_at)}


def workflow_summary(workflow: Workflow) -> dict[str, Any]:
    """A workflow in a list: no steps (those are one GET /api/workflows/<id> away), no secrets."""
    spec = WORKFLOWS.get(workflow.name)
    return {
        "id": str(workflow.id),
        "name": workflow.name,
        "title": spec.title if spec else workflow.name,
        "state": workflow.state,
        "error": workflow.error,
        "params": {k: v for k, v in (workflow.params or {}).items() if "password" not in k},
        "owner_id": workflow.owner_id,
        "created_at": iso(workflow.created_at),
        "finished_at": iso(workflow.finished_at),
        "url": f"/api/workflows/{workflow.id}",
    }


def batch_json(batch: Batch) -> dict[str, Any]:
    return {
        "id": str(batch.id),
        "description": batch.description,
        "total": batch.total,
        "succeeded": batch.succeeded,
        "failed": batch.failed,
        "pending": batch.total - batch.succeeded - batch.failed,
        "completed_at": iso(batch.completed_at),
        "followup_job_id": str(batch.followup_job_id) if batch.followup_job_id else None,
    }


def workflow_json(session: Session, workflow: Workflow) -> dict[str, Any]:
    spec = WORKFLOWS[workflow.name]
    jobs = session.scalars(sa.select(Job).where(Job.workflow_id == workflow.id).order_by(Job.created_at)).all()
    latest = {job.step: job for job in jobs}  # a step runs as one job; the newest wins if ever repeated

    def job_view(job: Job | None) -> dict[str, Any] | None:
        if job is None:
            return None
        return {"job_id": str(job.id), "state": job.state, "attempts": job.attempts, "progress": job.progress,
                "error": job.error}

    steps = []
    for step in spec.steps:
        job = latest.get(step.name)
        steps.append({
            "name": step.name,
            "title": step.title,
            "state": job.state if job else "pending",
            "job": job_view(job),
            "compensation": job_view(latest.get(UNDO + step.name)),
        })
    return {
        "id": str(workflow.id),
        "name": workflow.name,
        "title": spec.title,
        "state": workflow.state,
        "error": workflow.error,
        "params": {k: v for k, v in workflow.params.items() if "password" not in k},
        "created_at": iso(workflow.created_at),
        "finished_at": iso(workflow.finished_at),
        "steps": steps,
    }
