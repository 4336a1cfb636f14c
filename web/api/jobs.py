"""One job of the caller's: GET /api/jobs/<id> (polled), its file, and cancelling it."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect

from core.app import json_error, services, session
from core.auth import token_digest
from core.db import utcnow
from core.jobs.outbox import commit_and_send
from core.models import Job
from core.models.jobs import TERMINAL_STATES
from web.api.guard import current_user, login_required, presented_token, signed_in, unauthenticated
from web.api.polling import polled_as
from web.common.access import OWN_JOB_BY_LOGIN, as_uuid, own_job
from web.common.jobs import cancel_job
from web.common.reads import reads
from web.common.refusal import found
from web.common.serializers import job_etag, job_json

bp = Blueprint("jobs", __name__)


def _owned_job(job_id: str) -> Job:
    """The caller's job; someone else's is as missing as one that does not exist (404)."""
    return found(own_job(session(), current_user(), job_id), f"job {job_id} not found")


@bp.get("/jobs/<job_id>")
def show_job(job_id: str):
    """Polled every few seconds by every client waiting on a job, so it is one statement for
    the login and the job together (login_required and own_job would be two, in a transaction),
    and an unchanged job is a 304 before anything is serialised."""
    token = presented_token()
    row = reads().first(OWN_JOB_BY_LOGIN, {"digest": token_digest(token), "now": utcnow(),
                                           "job_id": as_uuid(job_id)}) if token else None
    if row is None:
        return unauthenticated()
    signed_in(row.user_id, row.login_id)
    job = found(row if row.id is not None else None, f"job {job_id} not found")
    return polled_as(job_etag(job), job.state in TERMINAL_STATES, lambda: {"job": job_json(job)})


@bp.get("/jobs/<job_id>/download")
@login_required
def download(job_id: str):
    job = _owned_job(job_id)
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
    db = session()
    asked = cancel_job(db, _owned_job(job_id))
    commit_and_send(db, services().queue)
    db.refresh(asked.job)
    if not asked.accepted:
        return json_error(409, f"job {job_id} has already ended ({asked.outcome}) and cannot be cancelled",
                          state=asked.outcome)
    # A running job stops at its next progress point: accepted, not yet done.
    return jsonify({"job": job_json(asked.job)}), 200 if asked.outcome == "cancelled" else 202
