"""Publishing an activity and following its notifications, for the API and the teacher pages.
Who may open one and a student's standing: activity_standing.py; edits and unpublishing:
activity_edits.py.

Publishing inserts the activity and its `activity_fanout` job in the caller's transaction and
never commits: the endpoint commits both together (the transactional outbox) with
`core.jobs.outbox.commit_and_send`. The rows the worker writes for it are found by the keys in
core/activities.py, which both tiers share.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.activities import (
    batch_key,
    summary_key,
)
from core.db import utcnow
from core.jobs.types import ACTIVITY_FANOUT, ActivityFanoutPayload
from core.models import Activity, Batch, Job, Notification, SchoolClass, User
from core.models.jobs import LISTED
from web.common.classes import student_count
from web.common.inserted import attach
from web.common.serializers import activity_json, batch_json, job_json
from web.common.submit import QuotaExceeded, add_job, owner_lock

TITLE_MAX = 200
DESCRIPTION_MAX = 20_000  # characters


def _insert_taught(locking: bool) -> sa.Insert:
    """INSERT INTO activities ... SELECT ... FROM classes WHERE <the class, taught by the
    teacher> RETURNING id: no row, no activity. `locking` (PostgreSQL): the same statement also
    takes the teacher's quota lock (web.common.submit.owner_lock), so the job's counting INSERT
    that follows needs no statement of its own for it. Built once; a request binds its values."""
    table = Activity.__table__
    columns = ("title", "description", "due_at", "published_at", "created_at", "status", "publish_at", "allow_late")
    classes = SchoolClass.__table__
    teacher_id = sa.bindparam("teacher_id", type_=sa.Integer)
    taught = (sa.select(classes.c.id, *(sa.bindparam(name, type_=table.c[name].type) for name in columns))
              .where(classes.c.id == sa.bindparam("class_id", type_=sa.Integer), classes.c.teacher_id == teacher_id,
                     classes.c.institution_id == sa.bindparam("institution_id", type_=sa.Integer)))
    if locking:
        taught = taught.select_from(classes.join(owner_lock(teacher_id), sa.true()))
    return sa.insert(table).from_select(("class_id", *columns), taught).returning(table.c.id)


_INSERT_TAUGHT = _insert_taught(locking=False)
_INSERT_TAUGHT_LOCKING = _insert_taught(locking=True)  # PostgreSQL


def publish_activity(
    session: Session,
    school_class: SchoolClass,
    teacher: User,
    title: str,
    description: str = "",
    due_at: datetime | None = None,
    *,
    max_in_flight: int | None = None,
    allow_late: bool = False,
) -> tuple[Activity, Job]:
    """Add a published activity and its fan-out job (notify and email every enrolled student,
    then tell the teacher how it went). Raises PermissionError if `teacher` does not teach the
    class, ValueError for a bad title or a naive `due_at`, and QuotaExceeded when the teacher
    already has `max_in_flight` requests in progress (a publish stays in flight until its last
    email is out). Every web endpoint passes the user's cap; None (no cap) is for arranging data."""
    if teacher.id != school_class.teacher_id:
        raise PermissionError(f"user {teacher.id} does not teach class {school_class.id}")
    published = publish_to_class(session, school_class.id, teacher, title, description, due_at,
                                 max_in_flight=max_in_flight, allow_late=allow_late)
    if published is None:
        raise PermissionError(f"user {teacher.id} does not teach class {school_class.id}")
    return published


def publish_to_class(
    session: Session,
    class_id: int,
    teacher: User,
    title: str,
    description: str = "",
    due_at: datetime | None = None,
    *,
    max_in_flight: int | None = None,
    allow_late: bool = False,
    publish_at: datetime | None = None,
) -> tuple[Activity, Job | None] | None:
    """`publish_activity` for a class known only by its id: two statements, the activity (only
    if `teacher` teaches the class, decided by the INSERT itself, which also takes the quota
    lock) and its job (only under the cap). None when they do not teach it: the caller finds
    out whether that is a 404 or a 403 only then, off the path every publish takes. Raises
    ValueError and QuotaExceeded like `publish_activity`; nothing is committed.

    With a `publish_at` in the future the activity is stored 'scheduled', without a job: the
    `publish-scheduled` periodic task (publish_due) publishes it and enqueues its fan-out at that
    time, so it is no request in flight (no quota) until then, and the job is None."""
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise ValueError(f"title must be 1 to {TITLE_MAX} characters")
    if due_at is not None and due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    if publish_at is not None and publish_at.tzinfo is None:
        raise ValueError("publish_at must be timezone-aware")
    now = utcnow()
    scheduled = publish_at is not None and publish_at > now
    values = {"title": title, "description": description or "", "due_at": due_at,
              "published_at": None if scheduled else now, "created_at": now,
              "status": "scheduled" if scheduled else "published", "publish_at": publish_at if scheduled else None,
              "allow_late": bool(allow_late)}
    connection = session.connection()
    # With a cap, PostgreSQL takes the teacher's lock in this statement (SQLite: the INSERT takes
    # the writer lock), so the job's INSERT right after counts what is in flight exactly.
    locking = not scheduled and max_in_flight is not None and connection.dialect.name == "postgresql"
    activity_id = connection.execute(_INSERT_TAUGHT_LOCKING if locking else _INSERT_TAUGHT, {
        **values, "class_id": class_id, "teacher_id": teacher.id, "institution_id": teacher.institution_id,
    }).scalar()
    if activity_id is None:
        return None
    # The columns the INSERT leaves to their server defaults, as the database filled them in.
    activity = attach(session, Activity, {"id": activity_id, "class_id": class_id, **values})
    if scheduled:
        return activity, None
    job = add_job(session, ACTIVITY_FANOUT, ActivityFanoutPayload(activity_id=activity_id), teacher.id, max_in_flight,
                  locked=locking)
    if job is None:
        raise QuotaExceeded(max_in_flight or 0)  # the fan-out never coalesces: only the cap refuses it
    return activity, job


def fanout_job(db: Session, activity: Activity, teacher_id: int) -> Job | None:
    """The activity's newest fan-out job. It is one of the teacher's own top-level jobs, created
    with the activity or after it: read newest first on ix_jobs_owner_listed and no further back
    than the activity, so the teacher's fan-out children and older jobs are never read."""
    return db.scalars(
        sa.select(Job)
        .where(Job.owner_id == teacher_id, sa.text(LISTED), Job.created_at >= activity.created_at,
               # `type || ''`: a condition the console's ix_jobs_type_created cannot serve, so the
               # planner keeps to the teacher's own index instead of every teacher's fan-outs.
               Job.type.op("||")("") == ACTIVITY_FANOUT.name,
               Job.payload["activity_id"].as_integer() == activity.id)
        .order_by(Job.created_at.desc())
        .limit(1)
    ).first()


def activity_batch(db: Session, activity: Activity) -> Batch | None:
    return db.scalars(sa.select(Batch).where(Batch.key == batch_key(activity.id))).first()


def activity_summary(db: Session, activity: Activity, teacher_id: int) -> Notification | None:
    return db.scalar(sa.select(Notification).where(
        Notification.user_id == teacher_id, Notification.kind == "activity_summary",
        Notification.dedupe_key == summary_key(activity.id)))


def activity_progress(db: Session, activity: Activity, teacher_id: int) -> tuple[dict[str, Any], bool]:
    """The body of GET /api/activities/<id> (and of the teacher's page) and whether nothing more
    will change."""
    batch = activity_batch(db, activity)
    summary = activity_summary(db, activity, teacher_id)
    job = fanout_job(db, activity, teacher_id)
    finished, status = _delivery(activity.status, job, batch, summary)
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


def _delivery(status: str, job: Job | None, batch: Batch | None, summary: Notification | None) -> tuple[bool, str]:
    """Whether the activity's notifications will still change, and what to tell the teacher.
    Said once here for the page and its polling script alike."""
    if summary is not None and status != "unpublished":
        return True, "Done."
    if batch is not None:
        return False, "All emails handled; writing the summary…" if batch.completed_at else "Sending emails…"
    if status == "scheduled":
        return True, "Scheduled: nothing is sent before its publish time."
    if status == "unpublished":
        return True, "Unpublished: students no longer see it."
    if job is None:
        # Added without a fan-out (the demo data, an import): nothing was or will be sent.
        return True, "No notifications were sent for this activity: it was added without notifying students."
    if job.state in ("failed", "cancelled"):
        # Failed or cancelled before starting its batch: it will never send anything.
        return True, f"The notification job {job.state}" + (f": {job.error}." if job.error else ".")
    return False, "Waiting for the worker to start…"
