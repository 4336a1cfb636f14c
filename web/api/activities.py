"""Teachers publish, schedule, edit and unpublish activities (web/common/activities.py); the
notification fan-out runs on the worker tier.

Guard rails: a due date already past is refused unless the body says `confirm_past_due: true`:
409 naming `due_at` (`confirm: "confirm_past_due"`). 409, not 422: the body is well formed and
valid by its schema, it only conflicts with the clock, and the same body would have been accepted
an hour earlier; the API's fuzzing (tests/web/test_api_fuzz.py) holds schema-valid bodies to
2xx/409 answers. Publishing answers with `students`, how many were targeted (emailed
now, or when a scheduled activity goes out, as enrolled at that time). A `publish_at` in the
future stores the activity as scheduled, with no job until the `publish-scheduled` task
publishes it. Edits and unpublishing tell each student once (see edit_activity)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify

from core.app import json_error, services, session
from core.db import utcnow
from core.jobs.outbox import commit_and_send
from core.models import Enrollment
from core.parsing import InputError, aware_datetime, known_fields, text
from web.api.guard import current_user, json_body, login_required, quota_response
from web.api.polling import polled
from web.common.access import teaches, visible_class
from web.common.activities import DESCRIPTION_MAX, TITLE_MAX, publish_to_class
from web.common.activity_edits import NotEditable, due_in_past, edit_activity, unpublish_activity
from web.common.activity_standing import teacher_activity
from web.common.refusal import found
from web.common.serializers import activity_json, job_json
from web.common.submit import QuotaExceeded

bp = Blueprint("activities", __name__)

CREATE_FIELDS = ("title", "description", "due_at", "allow_late", "publish_at", "confirm_past_due")
EDIT_FIELDS = ("title", "description", "due_at", "allow_late", "publish_at", "confirm_past_due")


def _flag(body: dict[str, Any], field: str) -> bool:
    value = body.get(field, False)
    if not isinstance(value, bool):
        raise InputError(field, f"{field} must be true or false")
    return value


def _moment(body: dict[str, Any], field: str) -> datetime | None:
    value = body.get(field)
    return None if value is None else aware_datetime(value, field)


class PastDue(Exception):
    pass


def _check_due(due_at: datetime | None, confirmed: bool) -> None:
    if due_in_past(due_at, utcnow()) and not confirmed:
        raise PastDue


def _past_due_response():
    return json_error(409, "due_at is in the past: send confirm_past_due: true to keep it", field="due_at",
                      confirm="confirm_past_due")


@bp.post("/classes/<int:class_id>/activities")
@login_required
def publish(class_id: int):
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with title, description and due_at")
    user, db = current_user(), session()
    try:
        known_fields(body, CREATE_FIELDS)
        title = text(body.get("title"), "title", required=True, max_length=TITLE_MAX)
        description = text(body.get("description"), "description", max_length=DESCRIPTION_MAX, strip=False)
        due_at = _moment(body, "due_at")
        publish_at = _moment(body, "publish_at")
        allow_late = _flag(body, "allow_late")
        confirmed = _flag(body, "confirm_past_due")
    except InputError as exc:
        # A class the caller cannot see is "not found", whatever the body says.
        if visible_class(db, user, class_id) is None:
            return json_error(404, f"class {class_id} not found")
        return json_error(400, exc.message, field=exc.field)
    try:
        _check_due(due_at, confirmed)
    except PastDue:
        school_class = visible_class(db, user, class_id)
        if school_class is None:
            return json_error(404, f"class {class_id} not found")
        if not teaches(user, school_class):
            return json_error(403, "only the class's teacher can publish its activities")
        return _past_due_response()
    try:
        # The INSERT itself checks that the caller teaches the class: one statement on the path
        # every publish takes, instead of loading the class first.
        published = publish_to_class(db, class_id, user, title, description, due_at,
                                     max_in_flight=services().settings.max_jobs_in_flight, allow_late=allow_late,
                                     publish_at=publish_at)
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
    students = db.scalar(sa.select(sa.func.count(Enrollment.id)).where(Enrollment.class_id == class_id)) or 0
    commit_and_send(db, services().queue)
    if job is None:  # scheduled: nothing runs before publish_at
        response = jsonify({"activity": activity_json(activity), "job": None, "students": students})
        response.status_code = 201
        response.headers["Location"] = f"/api/activities/{activity.id}"
        return response
    response = polled({"activity": activity_json(activity), "job": job_json(job), "students": students},
                      finished=False)
    response.status_code = 202
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return response


@bp.patch("/activities/<int:activity_id>")
@login_required
def edit(activity_id: int):
    user, db = current_user(), session()
    activity = found(teacher_activity(db, user, activity_id), f"activity {activity_id} not found")
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with the fields to change")
    try:
        known_fields(body, EDIT_FIELDS)
        changes: dict[str, Any] = {}
        if "title" in body:
            changes["title"] = text(body["title"], "title", required=True, max_length=TITLE_MAX)
            if not changes["title"]:
                raise InputError("title", f"title must be 1 to {TITLE_MAX} characters")
        if "description" in body:
            changes["description"] = text(body["description"], "description", max_length=DESCRIPTION_MAX,
                                          strip=False)
        if "due_at" in body:
            changes["due_at"] = _moment(body, "due_at")
        if "publish_at" in body:
            changes["publish_at"] = _moment(body, "publish_at")
        if "allow_late" in body:
            changes["allow_late"] = _flag(body, "allow_late")
        confirmed = _flag(body, "confirm_past_due")
    except InputError as exc:
        return json_error(400, exc.message, field=exc.field)
    if "due_at" in changes and changes["due_at"] != activity.due_at:
        try:
            _check_due(changes["due_at"], confirmed)
        except PastDue:
            return _past_due_response()
    try:
        notified = edit_activity(db, activity, changes, utcnow())
    except NotEditable as exc:
        db.rollback()
        return json_error(409, exc.message, field=exc.field)
    commit_and_send(db, services().queue)
    return jsonify({"activity": activity_json(activity), "notified": notified})


@bp.post("/activities/<int:activity_id>/unpublish")
@login_required
def unpublish(activity_id: int):
    user, db = current_user(), session()
    activity = found(teacher_activity(db, user, activity_id), f"activity {activity_id} not found")
    notified = unpublish_activity(db, activity, utcnow())
    commit_and_send(db, services().queue)
    return jsonify({"activity": activity_json(activity), "notified": notified})
