"""POST /api/reports: ask for a report of a class (web/common/reports.py); the job's payload is
declared in core/jobs/types.py (REPORT) and built by worker/handlers/reports.py."""
from __future__ import annotations

from flask import Blueprint, jsonify

from core.app import json_error, services, session
from core.jobs.outbox import commit_and_send
from core.jobs.types import REPORT
from core.parsing import known_fields
from web.api.guard import current_user, json_body, login_required, quota_response
from web.common.reports import ask_for_report
from web.common.serializers import job_json
from web.common.submit import QuotaExceeded

bp = Blueprint("reports", __name__)


@bp.post("/reports")
@login_required
def request_report():
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with kind, class_id and format")
    known_fields(body, ("kind", "class_id", "format"))  # InputError: a 400 naming the field
    payload = REPORT.parse(body)
    db = session()
    try:
        submitted = ask_for_report(db, current_user(), payload, services().settings.max_jobs_in_flight)
    except QuotaExceeded as exc:
        db.rollback()
        return quota_response(exc)
    commit_and_send(db, services().queue)
    response = jsonify({"job": job_json(submitted.job)})
    # The same request already in progress: here is that job, not a second one.
    response.status_code = 202 if submitted.created else 200
    response.headers["Location"] = f"/api/jobs/{submitted.job.id}"
    return response
