"""Publishing an activity, in the background.

`activity_fanout` (core/jobs/types.py ACTIVITY_FANOUT): one in-app notification per enrolled
student in one INSERT ... SELECT, and a batch of `email_chunk` jobs, one per EMAIL_CHUNK_SIZE
students (each student with the effect key of their email), whose follow-up is
`activity_summary`. The batch counts students, not jobs. All of it commits in one transaction with the job's success, so a crash
leaves either everything or nothing, and a retry starts clean.

`publish_due` (the `publish-scheduled` periodic task, worker/tasks.py): scheduled activities
whose time has come are published and their fan-out enqueued, in one transaction.

`activity_summary` (ACTIVITY_SUMMARY; the summary is added by the batch when its last child
ends): one notification to the teacher with the counts.

The keys the web tier reads these rows by (batch, notifications, email effects) are the
functions of core/activities.py.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core.activities import activity_path, batch_key, email_effect_key, student_notification_key, summary_key
from core.db import UTCDateTime, insert_or_ignore, utcnow
from core.jobs.batches import start_batch
from core.jobs.outbox import new_job
from core.jobs.types import (
    ACTIVITY_FANOUT,
    ACTIVITY_SUMMARY,
    EMAIL_CHUNK,
    EMAIL_CHUNK_SIZE,
    ActivityFanoutPayload,
    ActivitySummaryPayload,
    EmailChunkPayload,
    EmailRecipient,
)
from core.models import Activity, Batch, Enrollment, Job, Notification, SchoolClass, User
from core.models.school import SCHEDULED
from core.notifying import route
from worker.context import JobContext
from worker.errors import PermanentJobError
from worker.handlers import handles

EMAIL_TEMPLATE = "activity_published"


def _lock_activity(session: Session, activity_id: int) -> Activity | None:
    """Load the activity and hold a lock that serialises fan-outs of the same activity until
    this transaction ends, so two of them (a re-publish, a manual re-run) cannot both see "no
    batch yet" and each create one."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalars(sa.select(Activity).where(Activity.id == activity_id).with_for_update()).one_or_none()
    # SQLite has no row locks; any write takes its single database write lock for the rest
    # of the transaction, and reads after it see everything committed before.
    session.execute(sa.update(Activity).where(Activity.id == activity_id).values(class_id=Activity.class_id))
    return session.get(Activity, activity_id)


@handles(ACTIVITY_FANOUT)
def fan_out(ctx: JobContext, payload: ActivityFanoutPayload) -> dict[str, Any]:
    session = ctx.session
    activity = _lock_activity(session, payload.activity_id)
    if activity is None:
        raise PermanentJobError(f"activity {payload.activity_id} no longer exists")
    if activity.status == "unpublished":
        # Taken back before its fan-out ran: telling the students now would point at nothing.
        return {"skipped": "the activity was unpublished before its notifications went out"}
    if activity.published_at is None:
        raise PermanentJobError(f"activity {activity.id} is not published")
    school_class = activity.school_class
    teacher_id = ctx.job.owner_id or school_class.teacher_id

    existing = session.scalars(
        sa.select(Batch).where(
            sa.or_(Batch.parent_job_id == ctx.job.id, Batch.key == batch_key(activity.id))
        )
    ).first()
    if existing is not None:
        return {"batch_id": str(existing.id), "students": existing.total, "already_started": True}

    notified = _notify_students(session, activity, school_class.code)
    student_ids = session.scalars(
        sa.select(Enrollment.student_id).where(Enrollment.class_id == activity.class_id).order_by(Enrollment.student_id)
    ).all()
    # In-app for everyone; by email now only for those whose preference says so (the others get
    # it in their digest, or not at all), decided when the fan-out runs (core/notifying.py).
    routed = route(session, student_ids, "activity_published")
    emailed = routed.email
    batch = start_batch(
        session,
        owner_id=teacher_id,
        parent_job_id=ctx.job.id,
        key=batch_key(activity.id),
        description=f"Emails to the students of {school_class.code} about '{activity.title}'"[:200],
        children=[
            (EMAIL_CHUNK, EmailChunkPayload(
                template=EMAIL_TEMPLATE, context={"activity_id": activity.id},
                recipients=[EmailRecipient(to_user_id=student_id, effect_key=email_effect_key(activity.id, student_id))
                            for student_id in emailed[start:start + EMAIL_CHUNK_SIZE]]))
            for start in range(0, len(emailed), EMAIL_CHUNK_SIZE)
        ],
        followup=(ACTIVITY_SUMMARY, ActivitySummaryPayload(activity_id=activity.id, teacher_id=teacher_id)),
    )
    # The summary reads these counts back (the batch counts emails only), to tell the teacher
    # how many chose no email rather than calling 2 of 4 students "2 of 2".
    return {"batch_id": str(batch.id), "students": len(student_ids), "emailed": len(emailed),
            "digest": len(routed.digest), "off": len(routed.off), "notifications": notified}


def _notify_students(session: Session, activity: Activity, class_code: str) -> int:
    """One INSERT ... SELECT over the class's enrollments; NOT EXISTS skips students already
    notified (the unique (user_id, dedupe_key) stays the last line of defence)."""
    key = student_notification_key(activity.id)
    title = f"New activity in {class_code}: {activity.title}"[:200]
    # No due date in the text: stored text cannot be in each reader's time zone; the activity
    # page, one click away through `link`, shows it in theirs.
    body = activity.description or ""
    earlier = aliased(Notification)
    students = sa.select(
        Enrollment.student_id,
        sa.literal("activity_published", sa.String),
        sa.literal(title, sa.String),
        sa.literal(body, sa.Text),
        sa.literal(activity.id, sa.Integer),
        sa.literal(key, sa.String),
        sa.literal(activity_path(activity.id), sa.String),
        sa.literal(utcnow(), UTCDateTime()),
    ).where(
        Enrollment.class_id == activity.class_id,
        ~sa.exists().where(earlier.user_id == Enrollment.student_id, earlier.dedupe_key == key),
    )
    columns = ["user_id", "kind", "title", "body", "activity_id", "dedupe_key", "link", "created_at"]
    statement = sa.insert(Notification).from_select(columns, students)
    # preserve_rowcount: without it SQLAlchemy reports no rowcount for an INSERT on psycopg.
    return session.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def summary_text(title: str, total: int, succeeded: int, failed: int, digest: int = 0, off: int = 0) -> str:
    """`total` is every student the fan-out reached in the app, `digest` and `off` those whose
    preference asked for no email now."""
    text = f"Activity '{title}': emailed {succeeded} of {total} students"
    if failed:
        text += f", {failed} failed"
    chose = [f"{digest} chose the daily digest"] * bool(digest) + [f"{off} chose no email"] * bool(off)
    return f"{text}; {', '.join(chose)}" if chose else text


def _chosen_elsewhere(session: Session, batch_id: str) -> tuple[int, int]:
    """(digest, off) from the fan-out's result: how many students the batch did not email by
    choice. (0, 0) for a fan-out of a release that did not record them."""
    result = session.scalar(sa.select(Job.result).join(Batch, Batch.parent_job_id == Job.id)
                            .where(Batch.id == uuid.UUID(batch_id)))
    result = result if isinstance(result, dict) else {}
    counts = [result.get(name) for name in ("digest", "off")]
    return tuple(n if isinstance(n, int) and n >= 0 else 0 for n in counts)  # type: ignore[return-value]


@handles(ACTIVITY_SUMMARY)
def summarize(ctx: JobContext, payload: ActivitySummaryPayload) -> dict[str, Any]:
    session = ctx.session
    activity = session.get(Activity, payload.activity_id)
    if activity is None:
        raise PermanentJobError(f"activity {payload.activity_id} no longer exists")
    teacher = session.get(User, payload.teacher_id)
    if teacher is None:
        raise PermanentJobError(f"teacher {payload.teacher_id} no longer exists")
    summary = payload.summary
    if summary is None:
        raise PermanentJobError("no batch summary in the payload (this job is enqueued by the email batch)")

    total, succeeded, failed = summary.total, summary.succeeded, summary.failed
    digest, off = _chosen_elsewhere(session, summary.batch_id)
    text = summary_text(activity.title, total + digest + off, succeeded, failed, digest, off)
    body = f"{text}. Every student also got an in-app notification."
    if failed:
        body += " The failed emails are listed, with their errors, in the results of this batch's email jobs."
    created = insert_or_ignore(
        session, Notification, ["user_id", "dedupe_key"],
        user_id=teacher.id, kind="activity_summary", title=text[:200], body=body, activity_id=activity.id,
        dedupe_key=summary_key(activity.id), link=activity_path(activity.id), created_at=utcnow(),
    )
    return {"text": text, "total": total, "succeeded": succeeded, "failed": failed, "digest": digest, "off": off,
            "notified": created}


# Scheduled activities published per transaction: a run loops until none is due, so a backlog
# (the task was down for a while) drains in passes of this size without one long transaction.
PUBLISH_CHUNK = 200


def publish_due(session: Session, now: datetime) -> int:
    """Publish every scheduled activity whose publish_at has come, each with its fan-out job, and
    commit: the flip and the job in one transaction (the outbox), so a crash leaves neither. The
    UPDATE is conditional (status still 'scheduled'), so an overlapping run, or a teacher who
    cancels at that moment, finds the row already changed and it is published at most once.
    Found on ix_activities_scheduled. Returns how many were published; the caller sends the
    jobs' messages (core.jobs.outbox.flush; the relay would otherwise)."""
    published = 0
    while True:
        due = (sa.select(Activity.id).where(sa.text("activities." + SCHEDULED), Activity.publish_at <= now)
               .order_by(Activity.publish_at).limit(PUBLISH_CHUNK))
        rows = session.execute(
            sa.update(Activity)
            .where(Activity.id.in_(due.scalar_subquery()), Activity.status == "scheduled")
            .values(status="published", published_at=now)
            .returning(Activity.id, Activity.class_id)
            .execution_options(synchronize_session=False)
        ).all()
        if not rows:
            return published
        teachers = dict(session.execute(sa.select(SchoolClass.id, SchoolClass.teacher_id)
                                        .where(SchoolClass.id.in_({class_id for _, class_id in rows}))).all())
        for activity_id, class_id in rows:
            # The teacher's job, as if they had pressed "publish" now; no quota: they asked for it
            # when scheduling, and a cap reached meanwhile must not lose the publication.
            new_job(session, ACTIVITY_FANOUT, ActivityFanoutPayload(activity_id=activity_id), teachers[class_id])
        session.commit()
        published += len(rows)
        if len(rows) < PUBLISH_CHUNK:
            return published
