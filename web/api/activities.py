"""Teachers publish activities (web/common/activities.py); the notification fan-out runs on the
worker tier."""
from __future__ import annotations

from flask import Blueprint

from core.app import json_error, services, session
from core.jobs.outbox import commit_and_send
from core.parsing import InputError, aware_datetime, known_fields, text
from web.api.guard import current_user, json_body, login_required, quota_response
from web.api.polling import polled
from web.common.access import visible_class
from web.common.activities import DESCRIPTION_MAX, TITLE_MAX, publish_to_class
from web.common.serializers import activity_json, job_json
from web.common.submit import QuotaExceeded

bp = Blueprint("activities", __name__)


@bp.post("/classes/<int:class_id>/activities")
@login_required
def publish(class_id: int):
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with title, description and due_at")
    user, db = current_user(), session()
    try:
        known_fields(body, ("title", "description", "due_at"))
        title = text(body.get("title"), "title", required=True, max_length=TITLE_MAX)
        description = text(body.get("description"), "description", max_length=DESCRIPTION_MAX, strip=False)
        due = body.get("due_at")
        due_at = None if due is None else aware_datetime(due, "due_at")
    except InputError as exc:
        # A class the caller cannot see is "not found", whatever the body says.
        if visible_class(db, user, class_id) is None:
            return json_error(404, f"class {class_id} not found")
        return json_error(400, exc.message, field=exc.field)
    try:
        # The INSERT itself checks that the caller teaches the class: one statement on the path
        # every publish takes, instead of loading the class first.
        published = publish_to_class(db, class_id, user, title, description, due_at,
                                     max_in_flight=services().settings.max_jobs_in_flight)
    except ValueError as exc:
        return json_error(400, str(exc), field="title")
    except QuotaExceeded as exc:
        db.rollback()
        return quota_response(exc)
    if published is None:
        db.rollback()
        # Not theirs: "not found" for a class they cannot see, 403 for one they see but do not teach.
        if visible_class(db, user, class_id) is None:
            return json_error(404, f"class {class_id} not found")
        return json_error(403, "only the class's teacher can publish its activities")
    activity, job = published
    commit_and_send(db, services().queue)
    response = polled({"activity": activity_json(activity), "job": job_json(job)}, finished=False)
    response.status_code = 202
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return response
