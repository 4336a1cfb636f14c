"""Teachers publish activities; the notification fan-out runs on the worker tier."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint

from core.access import visible_class
from core.activities import DESCRIPTION_MAX, TITLE_MAX, publish_activity
from core.app import json_error, services, session
from core.jobs.outbox import flush
from core.jobs.submit import QuotaExceeded
from core.parsing import InputError, aware_datetime, known_fields, text
from web.api.guard import current_user, json_body, login_required, quota_response
from web.api.jobs import job_json
from web.api.polling import polled

bp = Blueprint("activities", __name__)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


@bp.post("/classes/<int:class_id>/activities")
@login_required
def publish(class_id: int):
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with title, description and due_at")
    user, db = current_user(), session()
    # A class the caller cannot see is "not found"; one they see but do not teach is 403.
    school_class = visible_class(db, user, class_id)
    if school_class is None:
        return json_error(404, f"class {class_id} not found")
    try:
        known_fields(body, ("title", "description", "due_at"))
        title = text(body.get("title"), "title", required=True, max_length=TITLE_MAX)
        description = text(body.get("description"), "description", max_length=DESCRIPTION_MAX, strip=False)
        due = body.get("due_at")
        due_at = None if due is None else aware_datetime(due, "due_at")
    except InputError as exc:
        return json_error(400, exc.message, field=exc.field)
    try:
        activity, job = publish_activity(db, school_class, user, title, description, due_at,
                                         max_in_flight=services().settings.max_jobs_in_flight)
    except PermissionError:
        return json_error(403, "only the class's teacher can publish its activities")
    except ValueError as exc:
        return json_error(400, str(exc), field="title")
    except QuotaExceeded as exc:
        db.rollback()
        return quota_response(exc)
    db.commit()
    flush(db, services().queue)
    body = {
        "activity": {"id": activity.id, "class_id": class_id, "title": activity.title,
                     "description": activity.description, "due_at": _iso(activity.due_at),
                     "published_at": _iso(activity.published_at)},
        "job": job_json(job),
    }
    response = polled(body, finished=False)
    response.status_code = 202
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return response
