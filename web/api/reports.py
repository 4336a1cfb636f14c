from __future__ import annotations

from flask import Blueprint, jsonify

from core.app import json_error, services, session
from core.jobs.outbox import flush
from core.jobs.submit import QuotaExceeded, submit
from core.access import visible_class
from core.parsing import InputError, json_id, known_fields
from core.reports import REPORT_FORMATS, REPORT_KINDS
from web.api.guard import current_user, json_body, login_required, quota_response
from web.api.jobs import job_json

bp = Blueprint("reports", __name__)


@bp.post("/reports")
@login_required
def request_report():
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with kind, class_id and format")
    kind, class_id, fmt = body.get("kind"), body.get("class_id"), body.get("format", "csv")
    try:
        known_fields(body, ("kind", "class_id", "format"))
    except InputError as exc:
        return json_error(400, exc.message, field=exc.field)
    if kind not in REPORT_KINDS:
        return json_error(400, f"kind must be one of {', '.join(REPORT_KINDS)}", field="kind")
    try:
        class_id = json_id(class_id, "class_id")
    except InputError as exc:
        return json_error(400, exc.message, field=exc.field)
    if fmt not in REPORT_FORMATS:
        return json_error(400, f"format must be one of {', '.join(REPORT_FORMATS)}", field="format")

    db = session()
    user = current_user()
    # A class the caller cannot see is "not found", so ids reveal nothing; one they see but do
    # not teach (a student's own class, an admin's institution) is 403.
    school_class = visible_class(db, user, class_id)
    if school_class is None:
        return json_error(404, f"class {class_id} not found", field="class_id")
    if school_class.teacher_id != user.id:
        return json_error(403, "only the class's teacher can ask for its reports", field="class_id")

    try:
        submitted = submit(db, "report", {"kind": kind, "class_id": class_id, "format": fmt}, user.id,
                           services().settings.max_jobs_in_flight)
    except QuotaExceeded as exc:
        db.rollback()
        return quota_response(exc)
    flush(db, services().queue)
    response = jsonify({"job": job_json(submitted.job)})
    # The same request already in progress: here is that job, not a second one.
    response.status_code = 202 if submitted.created else 200
    response.headers["Location"] = f"/api/jobs/{submitted.job.id}"
    return response
