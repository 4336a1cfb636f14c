"""Queries on classes that the API (web/api/classes.py) and the teacher pages both use."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import Activity, Enrollment, SchoolClass, User
from web.common.access import teaches, visible_classes


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


def taught_activity(db: Session, user: User, activity_id: int) -> Activity | None:
    """The activity if `user` teaches its class (and it is published), else None."""
    activity = db.get(Activity, activity_id)
    if activity is None or activity.published_at is None:
        return None
    school_class = activity.school_class
    if school_class.institution_id != user.institution_id or not teaches(user, school_class):
        return None
    return activity
