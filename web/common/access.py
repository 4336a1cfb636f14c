"""Who may see what. Every list and lookup the web tier serves starts from these queries, so
scoping is decided in one place: a student sees only their classes, activities, notifications
and jobs; a teacher only their classes; an admin only their institution."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.auth import live_login
from core.db import UTCDateTime
from core.models import Activity, ApiToken, Enrollment, Job, Notification, SchoolClass, User, Workflow


def visible_classes(user: User) -> sa.Select:
    query = sa.select(SchoolClass).where(SchoolClass.institution_id == user.institution_id)
    if user.role == "teacher":
        query = query.where(SchoolClass.teacher_id == user.id)
    elif user.role == "student":
        query = query.where(SchoolClass.id.in_(
            sa.select(Enrollment.class_id).where(Enrollment.student_id == user.id)))
    return query


def visible_class(session: Session, user: User, class_id: int) -> SchoolClass | None:
    return session.scalar(visible_classes(user).where(SchoolClass.id == class_id))


def teaches(user: User, school_class: SchoolClass) -> bool:
    return user.role == "teacher" and school_class.teacher_id == user.id


def class_students(school_class: SchoolClass, search: str | None = None) -> sa.Select:
    query = (
        sa.select(User)
        .join(Enrollment, Enrollment.student_id == User.id)
        .where(Enrollment.class_id == school_class.id)
        .order_by(User.full_name, User.id)
    )
    if search:
        pattern = f"%{search.strip().lower()}%"
        query = query.where(sa.or_(sa.func.lower(User.full_name).like(pattern), sa.func.lower(User.email).like(pattern)))
    return query


def visible_activities(user: User, class_id: int | None = None) -> sa.Select:
    classes = visible_classes(user).with_only_columns(SchoolClass.id)
    query = sa.select(Activity).where(Activity.class_id.in_(classes), Activity.published_at.is_not(None))
    if class_id is not None:
        query = query.where(Activity.class_id == class_id)
    return query.order_by(Activity.published_at.desc(), Activity.id.desc())


def own_notifications(user: User, unread_only: bool = False) -> sa.Select:
    query = sa.select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return query.order_by(Notification.created_at.desc(), Notification.id.desc())


def unread_count(session: Session, user: User) -> int:
    return session.scalar(
        sa.select(sa.func.count(Notification.id)).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ) or 0


def own_jobs(user: User, state: str | None = None) -> sa.Select:
    """The jobs a user asked for (fan-out children and workflow steps are shown through their
    parent or workflow, not one by one)."""
    query = sa.select(Job).where(Job.owner_id == user.id, Job.batch_id.is_(None), Job.workflow_id.is_(None))
    if state:
        query = query.where(Job.state == state)
    return query.order_by(Job.created_at.desc(), Job.id)


# A poll (GET /api/jobs/<id>) in one statement: the live login of the token and, if it is theirs,
# the job. No row: no live login (401). A row without a job id: no such job, or someone else's
# (one 404 for both). The job's columns are labelled as Job's attributes, so the row is read
# like a Job (web.common.serializers.job_json). Built once: executing it costs no compilation.
OWN_JOB_BY_LOGIN = (
    sa.select(ApiToken.id.label("login_id"), ApiToken.user_id,
              Job.id, Job.type, Job.state, Job.progress, Job.attempts, Job.created_at, Job.started_at,
              Job.finished_at, Job.error, Job.result)
    .select_from(ApiToken)
    .outerjoin(Job, sa.and_(Job.id == sa.bindparam("job_id", type_=sa.Uuid), Job.owner_id == ApiToken.user_id))
    .where(live_login(sa.bindparam("digest", type_=sa.String), sa.bindparam("now", type_=UTCDateTime)))
)


def as_uuid(raw: str) -> uuid.UUID | None:
    """The id in a URL; None for one that is no UUID (nothing has it: a 404, never a 500)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def own_job(session: Session, user: User, job_id: str) -> Job | None:
    """The job if `user` owns it; someone else's job is indistinguishable from a missing one."""
    key = as_uuid(job_id)
    job = session.get(Job, key) if key else None
    return job if job is not None and job.owner_id == user.id else None


def visible_workflow(session: Session, user: User, workflow_id: str) -> Workflow | None:
    """The owner, or an admin of the owner's institution, may see a workflow."""
    key = as_uuid(workflow_id)
    workflow = session.get(Workflow, key) if key else None
    if workflow is None:
        return None
    if workflow.owner_id == user.id:
        return workflow
    owner = session.get(User, workflow.owner_id) if workflow.owner_id else None
    if user.role == "admin" and owner is not None and owner.institution_id == user.institution_id:
        return workflow
    return None
