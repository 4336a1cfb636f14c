"""Classes, their students and activities, and an activity's notification progress: the JSON
equivalents of the teacher pages. Every list is paginated and filtered in SQL
(web.common.pagination) and scoped by web.common.access; the queries the pages share are in
web/common/classes.py, web/common/activities.py and web/common/activity_standing.py.

Who sees what:
- `GET /api/classes`, `/api/classes/<id>`, `/api/classes/<id>/activities`: anyone who can see
  the class (its teacher, its enrolled students, the institution's admins); 404 otherwise.
- `GET /api/classes/<id>/students`: the class's teacher and the institution's admins. A
  student of the class gets 403: classmates' names and emails are not theirs to list.
- `GET /api/activities/<id>`: the class's teacher only (404 for anyone else); it is polled
  (ETag, Retry-After) until the email batch is complete and the teacher's summary exists.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from core.app import json_error, session
from core.models import Activity, SchoolClass, User
from web.api.guard import current_user, login_required
from web.api.polling import polled
from web.common.access import class_students, teaches, visible_activities, visible_class
from web.common.activities import activity_progress
from web.common.activity_standing import student_activity, student_view, teacher_activity
from web.common.classes import classes_with_counts
from web.common.pagination import SEARCH_MAX, PageParamError, PageRequest, paginate
from web.common.refusal import found
from web.common.serializers import activity_json, class_json, person_json

bp = Blueprint("classes", __name__)


def page_request() -> PageRequest:
    return PageRequest.from_args(request.args)


def search_arg() -> str | None:
    q = request.args.get("q") or ""
    if len(q) > SEARCH_MAX:  # as sent, as the document counts it
        raise PageParamError("q", f"q must be at most {SEARCH_MAX} characters")
    return q.strip() or None


def _visible_class(db: Session, user: User, class_id: int) -> SchoolClass:
    return found(visible_class(db, user, class_id), f"class {class_id} not found")


@bp.get("/classes")
@login_required
def list_classes():
    page = paginate(session(), classes_with_counts(current_user()), page_request(), scalars=False)
    return jsonify({"items": [class_json(c, t, n) for c, t, n in page.items], **page.meta()})


@bp.get("/classes/<int:class_id>")
@login_required
def show_class(class_id: int):
    db, user = session(), current_user()
    row = db.execute(classes_with_counts(user).where(SchoolClass.id == class_id)).first()
    return jsonify({"class": class_json(*found(row, f"class {class_id} not found"))})


@bp.get("/classes/<int:class_id>/students")
@login_required
def list_students(class_id: int):
    db, user = session(), current_user()
    school_class = _visible_class(db, user, class_id)
    if not (teaches(user, school_class) or user.role == "admin"):
        return json_error(403, "only the class's teacher and the institution's admins can list its students")
    req, q = page_request(), search_arg()
    page = paginate(db, class_students(school_class, q), req)
    return jsonify({"items": [person_json(s) for s in page.items], "q": q, **page.meta()})


@bp.get("/classes/<int:class_id>/activities")
@login_required
def list_activities(class_id: int):
    db, user = session(), current_user()
    _visible_class(db, user, class_id)
    page = paginate(db, visible_activities(user, class_id), page_request())
    return jsonify({"items": [activity_json(a) for a in page.items], **page.meta()})


@bp.get("/activities/<int:activity_id>")
@login_required
def show_activity(activity_id: int):
    db, user = session(), current_user()
    activity = teacher_activity(db, user, activity_id)
    if activity is None:
        if user.role == "student":
            # A student of the class: the activity and their own standing in it, never the delivery.
            mine = student_activity(db, user, activity_id)
            if mine is not None:
                return jsonify(student_view(db, mine, user))
            return json_error(404, f"activity {activity_id} not found")
        visible = db.scalar(visible_activities(user).where(Activity.id == activity_id))
        if visible is not None:
            # Admins see the activity in their institution's lists; its delivery progress is the teacher's.
            return json_error(403, "only the class's teacher can follow this activity's delivery")
        return json_error(404, f"activity {activity_id} not found")
    body, finished = activity_progress(db, activity, user.id)
    return polled(body, finished)
