from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, redirect, request

from core.app import json_error, services, session
from core.models import Job
from web.api.guard import current_user, login_required

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
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    job = session().get(Job, key)
    # Someone else's job is indistinguishable from one that does not exist.
    return job if job is not None and job.owner_id == current_user().id else None


@bp.get("/jobs/<job_id>")
@login_required
def show_job(job_id: str):
    job = _owned_job(job_id)
    if job is None:
        return json_error(404, f"job {job_id} not found")
    body = job_json(job)
    response = jsonify({"job": body})
    response.set_etag(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = "private, no-cache"
    if not job.is_terminal:
        response.headers["Retry-After"] = str(services().settings.poll_interval_seconds)
    return response.make_conditional(request)


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
