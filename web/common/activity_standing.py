"""Who may open an activity (a 404 otherwise, never a 403 that would confirm it exists), and a
student's standing in it: not submitted, submitted, late or graded."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import Activity, Enrollment, Grade, SchoolClass, Submission, User
from web.common.dates import iso
from web.common.serializers import activity_json


def teacher_activity(db: Session, user: User, activity_id: int) -> Activity | None:
    """The activity, whatever its status, if `user` teaches its class; else None (a 404)."""
    return db.scalar(
        sa.select(Activity).join(SchoolClass, SchoolClass.id == Activity.class_id)
        .where(Activity.id == activity_id, SchoolClass.teacher_id == user.id,
               SchoolClass.institution_id == user.institution_id)
    )


def student_activity(db: Session, user: User, activity_id: int) -> Activity | None:
    """The activity if it is published to a class `user` is enrolled in; else None (a 404):
    a scheduled or unpublished activity does not exist for students."""
    return db.scalar(
        sa.select(Activity).join(Enrollment, Enrollment.class_id == Activity.class_id)
        .where(Activity.id == activity_id, Activity.status == "published", Activity.published_at.is_not(None),
               Enrollment.student_id == user.id)
    )


def class_activities(class_id: int) -> sa.Select:
    """Every activity of a class, scheduled and unpublished ones too: the teacher's list."""
    return (sa.select(Activity).where(Activity.class_id == class_id)
            .order_by(Activity.created_at.desc(), Activity.id.desc()))


STUDENT_STATUSES = ("not_submitted", "submitted", "late", "graded")
STATUS_LABELS = {"not_submitted": "Not submitted", "submitted": "Submitted", "late": "Submitted late",
                 "graded": "Graded"}


def student_statuses(db: Session, student_id: int, activity_ids: list[int]) -> dict[int, str]:
    """Each activity's STUDENT_STATUSES value for one student, in two queries whatever the count:
    graded once a grade exists (a teacher may grade work handed in on paper), else late or
    submitted by the submission, else not submitted."""
    if not activity_ids:
        return {}
    statuses = dict.fromkeys(activity_ids, "not_submitted")
    for activity_id, late in db.execute(sa.select(Submission.activity_id, Submission.late).where(
            Submission.student_id == student_id, Submission.activity_id.in_(activity_ids))):
        statuses[activity_id] = "late" if late else "submitted"
    for activity_id in db.scalars(sa.select(Grade.activity_id).where(
            Grade.student_id == student_id, Grade.activity_id.in_(activity_ids))):
        statuses[activity_id] = "graded"
    return statuses


def student_view(db: Session, activity: Activity, student: User) -> dict[str, Any]:
    """The body of GET /api/activities/<id> for one of the class's students: the activity and
    their own standing in it (never anyone else's)."""
    status = student_statuses(db, student.id, [activity.id])[activity.id]
    submission = db.scalar(sa.select(Submission).where(Submission.activity_id == activity.id,
                                                       Submission.student_id == student.id))
    return {
        "activity": activity_json(activity),
        "my_status": status,
        "submitted_at": iso(submission.submitted_at) if submission is not None else None,
        "finished": True,
    }


