"""Classes, their students and activities, and an activity's notification progress: the JSON
equivalents of the teacher pages. Every list is paginated and filtered in SQL
(core.pagination) and scoped by core.access.

Who sees what:
- `GET /api/classes`, `/api/classes/<id>`, `/api/classes/<id>/activities`: anyone who can see
  the class (its teacher, its enrolled students, the institution's admins); 404 otherwise.
- `GET /api/classes/<id>/students`: the class's teacher and the institution's admins. A
  student of the class gets 403: classmates' names and emails are not theirs to list.
- `GET /api/activities/<id>`: the class's teacher only (404 for anyone else); it is polled
  (ETag, Retry-After) until the email batch is complete and the teacher's summary exists.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from core.access import class_students, teaches, visible_activities, visible_class, visible_classes
from core.activities import batch_key, summary_key
from core.app import json_error, session
from core.jobs.batches import batch_json
from core.models import Activity, Batch, Enrollment, Job, Notification, SchoolClass, User
from core.pagination import PageParamError, PageRequest, paginate
from web.api.guard import current_user, login_required
from web.api.jobs import job_json
from web.api.polling import polled

bp = Blueprint("classes", __name__)

SEARCH_MAX = 100


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def page_request() -> PageRequest:
    return PageRequest.from_args(request.args)


def search_arg() -> str | None:
    q = request.args.get("q") or ""
    if len(q) > SEARCH_MAX:  # as sent, as the document counts it
        raise PageParamError("q", f"q must be at most {SEARCH_MAX} characters")
    return q.strip() or None


def bad_param(exc: PageParamError):
    return json_error(400, str(exc), field=exc.field)


# ---- queries shared with the pages (web/pages/teacher.py) ----

def student_count_column() -> sa.ScalarSelect:
    return (
        sa.select(sa.func.count(Enrollment.id))
        .where(Enrollment.class_id == SchoolClass.id)
        .correlate(SchoolClass)
        .scalar_subquery()
        .label("students")
    )


def classes_with_counts(user: User) -> sa.Select:
    """(SchoolClass, teacher User, student count) rows of the classes the user can see, in one
    query (no N+1), ordered by code."""
    return (
        sa.select(SchoolClass, User, student_count_column())
        .join(User, User.id == SchoolClass.teacher_id)
        .where(SchoolClass.id.in_(visible_classes(user).with_only_columns(SchoolClass.id)))
        .order_by(SchoolClass.code, SchoolClass.id)
    )


def student_count(db: Session, school_class: SchoolClass) -> int:
    return db.scalar(sa.select(sa.func.count(Enrollment.id)).where(Enrollment.class_id == school_class.id)) or 0


def fanout_job(db: Session, activity: Activity, teacher_id: int) -> Job | None:
    return db.scalars(
        sa.select(Job)
        .where(Job.owner_id == teacher_id, Job.type == "activity_fanout",
               Job.payload["activity_id"].as_integer() == activity.id)
        .order_by(Job.created_at.desc())
        .limit(1)
    ).first()


def activity_batch(db: Session, activity: Activity) -> Batch | None:
    return db.scalars(
        sa.select(Batch).where(Batch.key == batch_key(activity.id))).first()


def activity_summary(db: Session, activity: Activity, teacher_id: int) -> Notification | None:
    return db.scalar(sa.select(Notification).where(
        Notification.user_id == teacher_id, Notification.kind == "activity_summary",
        Notification.dedupe_key == summary_key(activity.id)))


def activity_progress(db: Session, activity: Activity, teacher_id: int) -> tuple[dict[str, Any], bool]:
    """The body of GET /api/activities/<id> and whether nothing more will change."""
    batch = activity_batch(db, activity)
    summary = activity_summary(db, activity, teacher_id)
    job = fanout_job(db, activity, teacher_id)
    finished, status = _delivery(job, batch, summary)
    body = {
        "activity": activity_json(activity),
        "students": student_count(db, activity.school_class),
        "job": job_json(job) if job is not None else None,
        "batch": batch_json(batch) if batch is not None else None,
        "summary": summary.title if summary is not None else None,
        "status": status,
        "finished": finished,
    }
    return body, finished


def _delivery(job: Job | None, batch: Batch | None, summary: Notification | None) -> tuple[bool, str]:
    """Whether the activity's notifications will still change, and what to tell the teacher.
    Said once here for the page and its polling script alike."""
    if summary is not None:
        return True, "Done."
    if batch is not None:
        return False, "All emails handled; writing the summary…" if batch.completed_at else "Sending emails…"
    if job is None:
        # Added without a fan-out (the demo data, an import): nothing was or will be sent.
        return True, "No notifications were sent for this activity: it was added without notifying students."
    if job.state in ("failed", "cancelled"):
        # Failed or cancelled before starting its batch: it will never send anything.
        return True, f"The notification job {job.state}" + (f": {job.error}." if job.error else ".")
    return False, "Waiting for the worker to start…"


# ---- JSON shapes ----

def person_json(person: User) -> dict[str, Any]:
    return {"id": person.id, "full_name": person.full_name, "email": person.email}


def class_json(school_class: SchoolClass, teacher: User, students: int) -> dict[str, Any]:
    return {"id": school_class.id, "code": school_class.code, "name": school_class.name,
            "teacher": person_json(teacher), "students": students}


def activity_json(activity: Activity) -> dict[str, Any]:
    return {"id": activity.id, "class_id": activity.class_id, "title": activity.title,
            "description": activity.description, "due_at": _iso(activity.due_at),
            "published_at": _iso(activity.published_at)}


# ---- routes ----

@bp.get("/classes")
@login_required
def list_classes():
    try:
        req = page_request()
    except PageParamError as exc:
        return bad_param(exc)
    page = paginate(session(), classes_with_counts(current_user()), req, scalars=False)
    return jsonify({"items": [class_json(c, t, n) for c, t, n in page.items], **page.meta()})


@bp.get("/classes/<int:class_id>")
@login_required
def show_class(class_id: int):
    db, user = session(), current_user()
    row = db.execute(classes_with_counts(user).where(SchoolClass.id == class_id)).first()
    if row is None:
        return json_error(404, f"class {class_id} not found")
    return jsonify({"class": class_json(*row)})


@bp.get("/classes/<int:class_id>/students")
@login_required
def list_students(class_id: int):
    db, user = session(), current_user()
    school_class = visible_class(db, user, class_id)
    if school_class is None:
        return json_error(404, f"class {class_id} not found")
    if not (teaches(user, school_class) or user.role == "admin"):
        return json_error(403, "only the class's teacher and the institution's admins can list its students")
    try:
        req, q = page_request(), search_arg()
    except PageParamError as exc:
        return bad_param(exc)
    page = paginate(db, class_students(school_class, q), req)
    return jsonify({"items": [person_json(s) for s in page.items], "q": q, **page.meta()})


@bp.get("/classes/<int:class_id>/activities")
@login_required
def list_activities(class_id: int):
    db, user = session(), current_user()
    if visible_class(db, user, class_id) is None:
        return json_error(404, f"class {class_id} not found")
    try:
        req = page_request()
    except PageParamError as exc:
        return bad_param(exc)
    page = paginate(db, visible_activities(user, class_id), req)
    return jsonify({"items": [activity_json(a) for a in page.items], **page.meta()})


def taught_activity(db: Session, user: User, activity_id: int) -> Activity | None:
    """The activity if `user` teaches its class (and it is published), else None."""
    activity = db.get(Activity, activity_id)
    if activity is None or activity.published_at is None:
        return None
    school_class = activity.school_class
    if school_class.institution_id != user.institution_id or not teaches(user, school_class):
        return None
    return activity


@bp.get("/activities/<int:activity_id>")
@login_required
def show_activity(activity_id: int):
    db, user = session(), current_user()
    activity = taught_activity(db, user, activity_id)
    if activity is None:
        visible = db.scalar(visible_activities(user).where(Activity.id == activity_id))
        if visible is not None:
            # Students and admins see the activity itself; its delivery progress is the teacher's.
            return json_error(403, "only the class's teacher can follow this activity's delivery")
        return json_error(404, f"activity {activity_id} not found")
    body, finished = activity_progress(db, activity, user.id)
    return polled(body, finished)
