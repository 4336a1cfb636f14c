"""`grade_posted` (core/jobs/types.py GRADE_POSTED): a student's score was set or changed
(web/common/grades.py set_grade enqueues it in the grade's transaction). One in-app notification
per change (dedupe key core.notifying.grade_change_key), linked to the activity's page, and an
email if the student's channel for `grade_posted` is email (core.notifying.route), at most once
per change (the same key as an effect). A job for a change that a later one superseded does
nothing: the later job tells the student the current score."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.db import insert_or_ignore, utcnow
from core.jobs.types import GRADE_POSTED, GradePostedPayload
from core.links import absolute
from core.models import Activity, Grade, Notification, User
from core.notification_kinds import GRADE_POSTED as KIND
from core.notifying import grade_change_key, route
from worker.context import JobContext
from worker.errors import PermanentJobError
from worker.handlers import handles
from worker.notify_mail import Sending


def score_text(score: float) -> str:
    return f"{score:.2f}".rstrip("0").rstrip(".")


@handles(GRADE_POSTED)
def notify_grade(ctx: JobContext, payload: GradePostedPayload) -> dict[str, Any]:
    session = ctx.session
    try:
        changed_at = datetime.fromisoformat(payload.graded_at)
    except ValueError as exc:
        raise PermanentJobError(f"graded_at {payload.graded_at!r} is not an ISO 8601 time") from exc
    grade = session.scalar(sa.select(Grade).where(Grade.activity_id == payload.activity_id,
                                                  Grade.student_id == payload.student_id))
    if grade is None:
        return {"skipped": "the grade no longer exists"}
    if grade.graded_at is not None and grade.graded_at > changed_at:
        return {"skipped": "a later change of this grade notifies the student"}
    activity = session.get(Activity, payload.activity_id)
    student = session.get(User, payload.student_id)
    if activity is None or student is None:
        return {"skipped": "the activity or the student no longer exists"}
    school_class = activity.school_class
    score = score_text(float(grade.score))
    key = grade_change_key(activity.id, student.id, changed_at)
    path = f"/activities/{activity.id}"
    notified = insert_or_ignore(
        session, Notification, ["user_id", "dedupe_key"], user_id=student.id, kind=KIND.name,
        title=f"Graded in {school_class.code}: {activity.title}: {score}/100"[:200], body=grade.feedback or "",
        activity_id=activity.id, dedupe_key=key, link=path, created_at=utcnow())
    sending = Sending(ctx, total=1)
    if student.id in route(session, [student.id], KIND.name).email:
        with sending.recording():
            sending.send(f"email:{key}", student.id, student.email, "grade_posted", {
                "student": {"id": student.id, "name": student.full_name},
                "school_class": {"code": school_class.code, "name": school_class.name},
                "activity": {"id": activity.id, "title": activity.title},
                "score": score, "feedback": grade.feedback or "",
                "link": absolute(ctx.services.settings.public_base_url, path),
            })
    else:
        sending.done_one()
    # A refused email (a bounced address) is in the result; the notification still commits.
    return sending.result(notified=notified)
