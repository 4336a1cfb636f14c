"""Publishing an activity, in the background.

`activity_fanout` (payload `{"activity_id"}`): one in-app notification per enrolled student in
one INSERT ... SELECT, and a batch of `email` jobs, one per student, whose follow-up is
`activity_summary`. All of it commits in one transaction with the job's success, so a crash
leaves either everything or nothing, and a retry starts clean.

`activity_summary` (payload `{"activity_id", "teacher_id", "summary"}`, the summary added by
the batch when its last child ends): one notification to the teacher with the counts.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core.db import UTCDateTime, utcnow
from core.jobs.batches import start_batch
from core.jobs.errors import PermanentJobError
from core.models import Activity, Batch, Enrollment, Notification, User
from worker.context import JobContext
from core.db import insert_or_ignore

EMAIL_TEMPLATE = "activity_published"


def batch_description(activity_id: int) -> str:
    """Also the fan-out's idempotency key: one email batch per activity."""
    return f"activity:{activity_id} emails to students"


def email_effect_key(activity_id: int, student_id: int) -> str:
    return f"email:activity:{activity_id}:student:{student_id}"


def _lock_activity(session: Session, activity_id: Any) -> Activity | None:
    """Load the activity and hold a lock that serialises fan-outs of the same activity until
    this transaction ends, so two of them (a re-publish, a manual re-run) cannot both see "no
    batch yet" and each create one."""
    if not isinstance(activity_id, int) or isinstance(activity_id, bool):
        raise PermanentJobError(f"activity_id must be an activity id (got {activity_id!r})")
    if session.get_bind().dialect.name == "postgresql":
        return session.scalars(sa.select(Activity).where(Activity.id == activity_id).with_for_update()).one_or_none()
    # SQLite has no row locks; any write takes its single database write lock for the rest
    # of the transaction, and reads after it see everything committed before.
    session.execute(sa.update(Activity).where(Activity.id == activity_id).values(class_id=Activity.class_id))
    return session.get(Activity, activity_id)


def fan_out(ctx: JobContext) -> dict[str, Any]:
    session = ctx.session
    activity = _lock_activity(session, ctx.payload.get("activity_id"))
    if activity is None:
        raise PermanentJobError(f"activity {ctx.payload.get('activity_id')} no longer exists")
    if activity.published_at is None:
        raise PermanentJobError(f"activity {activity.id} is not published")
    school_class = activity.school_class
    teacher_id = ctx.job.owner_id or school_class.teacher_id

    existing = session.scalars(
        sa.select(Batch).where(
            sa.or_(Batch.parent_job_id == ctx.job.id, Batch.description == batch_description(activity.id))
        )
    ).first()
    if existing is not None:
        return {"batch_id": str(existing.id), "students": existing.total, "already_started": True}

    notified = _notify_students(session, activity, school_class.code)
    student_ids = session.scalars(
        sa.select(Enrollment.student_id).where(Enrollment.class_id == activity.class_id).order_by(Enrollment.student_id)
    ).all()
    batch = start_batch(
        session,
        owner_id=teacher_id,
        parent_job_id=ctx.job.id,
        description=batch_description(activity.id),
        children=[
            ("email", {
                "template": EMAIL_TEMPLATE,
                "to_user_id": student_id,
                "context": {"activity_id": activity.id},
                "effect_key": email_effect_key(activity.id, student_id),
            })
            for student_id in student_ids
        ],
        followup_type="activity_summary",
        followup_payload={"activity_id": activity.id, "teacher_id": teacher_id},
    )
    return {"batch_id": str(batch.id), "students": len(student_ids), "notifications": notified}


def _notify_students(session: Session, activity: Activity, class_code: str) -> int:
    """One INSERT ... SELECT over the class's enrollments; NOT EXISTS skips students already
    notified (the unique (user_id, dedupe_key) stays the last line of defence)."""
    key = f"activity:{activity.id}"
    title = f"New activity in {class_code}: {activity.title}"[:200]
    body = activity.description or ""
    if activity.due_at is not None:
        body = f"Due {activity.due_at:%Y-%m-%d %H:%M} UTC.\n\n{body}".strip()
    earlier = aliased(Notification)
    students = sa.select(
        Enrollment.student_id,
        sa.literal("activity_published", sa.String),
        sa.literal(title, sa.String),
        sa.literal(body, sa.Text),
        sa.literal(activity.id, sa.Integer),
        sa.literal(key, sa.String),
        sa.literal(utcnow(), UTCDateTime()),
    ).where(
        Enrollment.class_id == activity.class_id,
        ~sa.exists().where(earlier.user_id == Enrollment.student_id, earlier.dedupe_key == key),
    )
    columns = ["user_id", "kind", "title", "body", "activity_id", "dedupe_key", "created_at"]
    statement = sa.insert(Notification).from_select(columns, students)
    # preserve_rowcount: without it SQLAlchemy reports no rowcount for an INSERT on psycopg.
    return session.execute(statement.execution_options(preserve_rowcount=True)).rowcount


def summary_text(title: str, total: int, succeeded: int, failed: int) -> str:
    text = f"Activity '{title}': emailed {succeeded} of {total} students"
    return f"{text}, {failed} failed" if failed else text


def summarize(ctx: JobContext) -> dict[str, Any]:
    session, payload = ctx.session, ctx.payload
    activity = session.get(Activity, payload.get("activity_id"))
    if activity is None:
        raise PermanentJobError(f"activity {payload.get('activity_id')} no longer exists")
    teacher = session.get(User, payload.get("teacher_id"))
    if teacher is None:
        raise PermanentJobError(f"teacher {payload.get('teacher_id')} no longer exists")
    summary = payload.get("summary")
    if not isinstance(summary, dict) or not {"total", "succeeded", "failed"} <= summary.keys():
        raise PermanentJobError("no batch summary in the payload (this job is enqueued by the email batch)")

    total, succeeded, failed = int(summary["total"]), int(summary["succeeded"]), int(summary["failed"])
    text = summary_text(activity.title, total, succeeded, failed)
    body = f"{text}. Every student also got an in-app notification."
    if failed:
        body += " The failed emails are listed, with their errors, among the jobs of this batch."
    created = insert_or_ignore(
        session, Notification, ["user_id", "dedupe_key"],
        user_id=teacher.id, kind="activity_summary", title=text[:200], body=body, activity_id=activity.id,
        dedupe_key=f"activity-summary:{activity.id}", created_at=utcnow(),
    )
    return {"text": text, "total": total, "succeeded": succeeded, "failed": failed, "notified": created}
