"""Publishing an activity and following its notifications, for the API and the teacher pages.

Publishing inserts the activity and its `activity_fanout` job in the caller's transaction and
never commits: the endpoint commits both together (the transactional outbox) with
`core.jobs.outbox.commit_and_send`. The rows the worker writes for it are found by the keys in
core/activities.py, which both tiers share.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core.activities import (
    activity_path,
    batch_key,
    changed_notification_key,
    summary_key,
    unpublished_notification_key,
)
from core.db import UTCDateTime, utcnow
from core.jobs.outbox import new_job
from core.jobs.types import ACTIVITY_FANOUT, ACTIVITY_NOTICE, ActivityFanoutPayload, ActivityNoticePayload
from core.models import Activity, Batch, Enrollment, Grade, Job, Notification, SchoolClass, Submission, User
from core.models.jobs import LISTED
from web.common.classes import student_count
from web.common.dates import iso
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


# --- Who may open an activity, and a student's standing in it ---------------------------------

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


# --- Guard rails, edits, unpublishing ---------------------------------------------------------

def due_in_past(due_at: datetime | None, now: datetime | None = None) -> bool:
    """A due date already gone: accepted only with the teacher's explicit confirmation."""
    return due_at is not None and due_at <= (now or utcnow())


EDITABLE = ("title", "description", "due_at", "allow_late", "publish_at")


class NotEditable(Exception):
    """The change does not fit the activity's status (e.g. a publish time for one already out)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _lock(db: Session, activity: Activity) -> Activity:
    """The activity as committed now, locked until the transaction ends: an edit or unpublish
    and the publishing task's conditional UPDATE never interleave, so a scheduled activity is
    either cancelled or published, never both."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(sa.select(Activity.id).where(Activity.id == activity.id).with_for_update())
    else:  # SQLite: any write takes the database's one write lock for the rest of the transaction
        db.execute(sa.update(Activity).where(Activity.id == activity.id).values(class_id=Activity.class_id)
                   .execution_options(synchronize_session=False))
    db.refresh(activity)
    return activity


def edit_activity(db: Session, activity: Activity, changes: dict[str, Any], now: datetime | None = None) -> int:
    """Apply `changes` (a subset of EDITABLE, already validated) and return how many students
    were told. A published activity's students get one "changed" notification each, the first
    time it changes; later edits tell nobody again (the page always shows the current text).
    A scheduled one tells nobody (nobody has seen it) and may move its publish time; an
    unpublished one cannot change. The students told get the email of it per their preference
    (an `activity_notice` job). The caller commits and sends (core.jobs.outbox.commit_and_send)."""
    now = now or utcnow()
    activity = _lock(db, activity)
    if activity.status == "unpublished":
        raise NotEditable("status", "an unpublished activity cannot be edited")
    if "publish_at" in changes:
        if activity.status != "scheduled":
            raise NotEditable("publish_at", "the activity is already published")
        if changes["publish_at"] is None or changes["publish_at"] <= now:
            raise NotEditable("publish_at", "publish_at must be in the future (to publish now, leave it out "
                                            "when creating)")
    changed = [name for name in EDITABLE if name in changes and getattr(activity, name) != changes[name]]
    if not changed:
        return 0
    for name in changed:
        setattr(activity, name, changes[name])
    activity.updated_at = now
    db.flush()
    if activity.status != "published":
        return 0
    school_class = activity.school_class
    what = ", ".join(_FIELD_WORDS[name] for name in changed)
    told = _notify_class(db, activity, "activity_changed", changed_notification_key(activity.id),
                         f"Changed in {school_class.code}: {activity.title}",
                         f"Your teacher changed this activity ({what}). Open it to see the current version.", now)
    return _email_notice(db, activity, "changed", told)


_FIELD_WORDS = {"title": "title", "description": "description", "due_at": "due date", "allow_late": "late work",
                "publish_at": "publish time"}


def unpublish_activity(db: Session, activity: Activity, now: datetime | None = None) -> int:
    """Take the activity back (students no longer see it) and return how many were told. A
    scheduled one is cancelled: it is never published and nobody is told. Students told of a
    published one get one "unpublished" notification each, once, and its email per their
    preference. Already unpublished: nothing happens (0). The caller commits and sends."""
    now = now or utcnow()
    activity = _lock(db, activity)
    if activity.status == "unpublished":
        return 0
    was_published = activity.status == "published"
    activity.status = "unpublished"
    activity.unpublished_at = now
    activity.updated_at = now
    # published_at NULL: every query for what students see (web.common.access) leaves it out.
    activity.published_at = None
    activity.publish_at = None
    db.flush()
    if not was_published:
        return 0
    told = _notify_class(db, activity, "activity_changed", unpublished_notification_key(activity.id),
                         f"Withdrawn in {activity.school_class.code}: {activity.title}",
                         "Your teacher unpublished this activity: there is nothing to hand in for it any more.", now,
                         link=None)
    return _email_notice(db, activity, "unpublished", told)


def _email_notice(db: Session, activity: Activity, notice: str, told: int) -> int:
    """The emails of a notice just written in the app, routed like every kind (worker/handlers/
    activity_notices.py): one job in this transaction, only when someone was told now, so a
    later edit enqueues nothing. Outside the teacher's cap on requests in flight: the edit is
    done, and refusing its emails would leave the students told in the app only. Returns `told`."""
    if told:
        new_job(db, ACTIVITY_NOTICE, ActivityNoticePayload(activity_id=activity.id, notice=notice),
                activity.school_class.teacher_id)
    return told


def _notify_class(db: Session, activity: Activity, kind: str, key: str, title: str, body: str, now: datetime,
                  link: str | None = "") -> int:
    """One in-app notification per enrolled student under `key`, in one INSERT ... SELECT; a
    student who has one under that key already is skipped (NOT EXISTS, the unique (user_id,
    dedupe_key) behind it). `link` "" means the activity's page; None, no link."""
    link = activity_path(activity.id) if link == "" else link
    earlier = aliased(Notification)
    rows = sa.select(
        Enrollment.student_id, sa.literal(kind, sa.String), sa.literal(title[:200], sa.String),
        sa.literal(body, sa.Text), sa.literal(activity.id, sa.Integer), sa.literal(key, sa.String),
        sa.literal(link, sa.String), sa.literal(now, UTCDateTime()),
    ).where(Enrollment.class_id == activity.class_id,
            ~sa.exists().where(earlier.user_id == Enrollment.student_id, earlier.dedupe_key == key))
    columns = ["user_id", "kind", "title", "body", "activity_id", "dedupe_key", "link", "created_at"]
    statement = sa.insert(Notification).from_select(columns, rows)
    return db.execute(statement.execution_options(preserve_rowcount=True)).rowcount
