from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, redirect

from core.access import own_job
from core.app import json_error, services, session
from core.db import utcnow
from core.jobs.lifecycle import request_cancel
from core.jobs.outbox import flush
from core.models import Job
from web.api.guard import current_user, login_required
from web.api.polling import polled

bp = Blueprint("jobs", __name__)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_json(job: Job) -> dict[str, Any]:
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
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
        "result": result,
    }


def _owned_job(job_id: str) -> Job | None:
    return own_job(session(), current_user(), job_id)


@bp.get("/jobs/<job_id>")
@login_required
def show_job(job_id: str):
    job = _owned_job(job_id)
    if job is None:
        return json_error(404, f"job {job_id} not found")
    return polled({"job": job_json(job)}, job.is_terminal)


@bp.get("/jobs/<job_id>/download")
@login_required
def download(job_id: str):
    job = _owned_job(job_id)
    if job is None:
        return json_error(404, f"job {job_id} not found")
    if job.state != "succeeded" or not job.result or "file_key" not in job.result:
        return json_error(409, f"job {job_id} has no file to download (state: {job.state})")
    settings = services().settings
    url = services().storage.download_url(
        job.result["file_key"], job.result.get("filename", "report"), settings.download_url_ttl_seconds
    )
    # A short-lived presigned URL: the file comes straight from S3, not through the web tier.
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/jobs/<job_id>/cancel")
@login_required
def cancel(job_id: str):
    job = _owned_job(job_id)
    if job is None:
        return json_error(404, f"job {job_id} not found")
    db = session()
    outcome = request_cancel(db, job.id, utcnow())
    db.commit()
    flush(db, services().queue)  # a cancelled batch child or workflow step may have enqueued what follows
    db.refresh(job)
    if outcome not in ("cancelled", "cancelling"):
        return json_error(409, f"job {job_id} has already ended ({outcome}) and cannot be cancelled", state=outcome)
    # A running job stops at its next progress point: accepted, not yet done.
    return jsonify({"job": job_json(job)}), 200 if outcome == "cancelled" else 202
