"""Reminders 24 hours before a due date (issue 13, item 5).

The `reminders` periodic task (worker/tasks.py, every 15 minutes) calls `start_due_reminders`:
it finds the published activities due within the next REMINDER_WINDOW (ix_activities_due) that
have no reminder batch yet (batches.key core.notifying.reminder_batch_key, unique), and starts,
for each, one batch of `reminder_chunk` jobs over the enrolled students who have not submitted.
The task runs under its lease, so two runs never overlap; the batch's unique key is the last
line of defence, so an activity gets one batch ever.

`reminder_chunk` (REMINDER_CHUNK) checks again when it runs: a student who has submitted since,
or left the class, gets nothing; an activity unpublished, or whose due date passed or moved out
of the window, reminds nobody. Each remaining student gets one in-app notification (dedupe key
reminder_notification_key, so a redelivery adds none) and, if their channel for `reminder` is
email (core.notifying.route), one email (effect key reminder_email_key): exactly once per student
and activity however often the task or the chunk runs.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import insert_or_ignore, utcnow
from core.jobs.batches import COUNTS, start_batch
from core.jobs.types import NOTIFY_CHUNK_SIZE, REMINDER_CHUNK, ReminderChunkPayload
from core.links import absolute
from core.models import Activity, Batch, Enrollment, Notification, Submission, User
from core.notification_kinds import REMINDER
from core.notifying import local_time, reminder_batch_key, reminder_email_key, reminder_notification_key, route
from worker.context import JobContext
from worker.handlers import handles
from worker.notify_mail import Sending

REMINDER_WINDOW = timedelta(hours=24)
# Activities one run starts batches for; the next run (15 minutes later) takes the rest.
MAX_ACTIVITIES_PER_RUN = 200


def _not_submitted(session: Session, activity: Activity, student_ids: list[int] | None = None) -> list[int]:
    query = (sa.select(Enrollment.student_id).where(
        Enrollment.class_id == activity.class_id,
        ~sa.exists().where(Submission.activity_id == activity.id, Submission.student_id == Enrollment.student_id))
        .order_by(Enrollment.student_id))
    if student_ids is not None:
        query = query.where(Enrollment.student_id.in_(student_ids))
    return list(session.scalars(query))


def start_due_reminders(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Start the reminder batches that are due (the caller commits and sends)."""
    now = now or utcnow()
    # The condition of ix_activities_due (status published, due_at set), then its range.
    due = session.scalars(
        sa.select(Activity).where(Activity.status == "published", Activity.due_at.is_not(None),
                                  Activity.due_at > now, Activity.due_at <= now + REMINDER_WINDOW)
        .order_by(Activity.due_at, Activity.id)).all()
    started = set(session.scalars(sa.select(Batch.key).where(
        Batch.key.in_([reminder_batch_key(a.id) for a in due])))) if due else set()
    activities = [a for a in due if reminder_batch_key(a.id) not in started][:MAX_ACTIVITIES_PER_RUN]
    students = 0
    for activity in activities:
        ids = _not_submitted(session, activity)
        students += len(ids)
        start_batch(
            session, owner_id=None, parent_job_id=None, key=reminder_batch_key(activity.id),
            description=f"Reminders of '{activity.title}' (due {local_time(activity.due_at, None)})"[:200],
            children=[(REMINDER_CHUNK, ReminderChunkPayload(activity_id=activity.id,
                                                            student_ids=ids[start:start + NOTIFY_CHUNK_SIZE]))
                      for start in range(0, len(ids), NOTIFY_CHUNK_SIZE)],
        )
    return {"activities": len(activities), "students": students}


def _due_text(activity: Activity, time_zone: str | None) -> str:
    return local_time(activity.due_at, time_zone)


@handles(REMINDER_CHUNK)
def remind(ctx: JobContext, payload: ReminderChunkPayload) -> dict[str, Any]:
    session = ctx.session
    total = len(payload.student_ids)
    activity = session.get(Activity, payload.activity_id)
    now = utcnow()
    if (activity is None or activity.status != "published" or activity.due_at is None
            or not now < activity.due_at <= now + REMINDER_WINDOW):
        return {"skipped": "the activity is no longer published or due within 24 hours", "recipients": total,
                COUNTS: {"succeeded": total, "failed": 0}}
    school_class = activity.school_class
    targets = _not_submitted(session, activity, list(payload.student_ids))
    key = reminder_notification_key(activity.id)
    path = f"/activities/{activity.id}"
    users = {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(targets)))} if targets else {}
    notified = 0
    for student_id in targets:
        user = users.get(student_id)
        if user is None:
            continue
        notified += insert_or_ignore(
            session, Notification, ["user_id", "dedupe_key"], user_id=student_id, kind=REMINDER.name,
            title=f"Due in less than 24 hours: {activity.title} ({school_class.code})"[:200],
            body=f"Due {_due_text(activity, user.time_zone)}. You have not submitted yet.",
            activity_id=activity.id, dedupe_key=key, link=path, created_at=now)
    sending = Sending(ctx, total=total)
    sending.skipped = total - len(targets)  # submitted meanwhile, or left the class
    emailed = set(route(session, targets, REMINDER.name).email)
    link = absolute(ctx.services.settings.public_base_url, path)
    with sending.recording():
        for student_id in targets:
            user = users.get(student_id)
            if user is None or student_id not in emailed:
                sending.done_one()
                continue
            sending.send(reminder_email_key(activity.id, student_id), student_id, user.email, "reminder", {
                "student": {"id": user.id, "name": user.full_name},
                "school_class": {"code": school_class.code, "name": school_class.name},
                "activity": {"id": activity.id, "title": activity.title},
                "due": _due_text(activity, user.time_zone), "link": link,
            })
    return sending.result(notified=notified)
