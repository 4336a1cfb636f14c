"""Publishing an activity: the domain change and the job it causes, in one transaction.

Pure: adds rows to the caller's session and never commits, so the web endpoint (and tests)
commit the activity and its `activity_fanout` job together (the transactional outbox), then
call `core.jobs.outbox.flush` to send the message.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.outbox import new_job
from core.jobs.submit import check_quota
from core.models import Activity, Job, SchoolClass, User

TITLE_MAX = 200


# Keys both tiers agree on. The worker writes rows under them; the web tier finds those rows.

def batch_key(activity_id: int) -> str:
    """The activity's one batch of emails (batches.key, unique)."""
    return f"activity:{activity_id}:emails"


def summary_key(activity_id: int) -> str:
    """The teacher's summary notification (notifications.dedupe_key)."""
    return f"activity-summary:{activity_id}"


def student_notification_key(activity_id: int) -> str:
    """Each student's in-app notification (notifications.dedupe_key, unique per user)."""
    return f"activity:{activity_id}"


def email_effect_key(activity_id: int, student_id: int) -> str:
    """One email to one student about one activity (effects.key): sent at most once."""
    return f"email:activity:{activity_id}:student:{student_id}"
DESCRIPTION_MAX = 20_000  # characters


def publish_activity(
    session: Session,
    school_class: SchoolClass,
    teacher: User,
    title: str,
    description: str = "",
    due_at: datetime | None = None,
    *,
    max_in_flight: int | None = None,
) -> tuple[Activity, Job]:
    """Add a published activity and its fan-out job (notify and email every enrolled student,
    then tell the teacher how it went). Raises PermissionError if `teacher` does not teach the
    class, ValueError for a bad title or a naive `due_at`, and QuotaExceeded when the teacher
    already has `max_in_flight` requests in progress (a publish stays in flight until its last
    email is out). Every web endpoint passes the user's cap; None (no cap) is for arranging data."""
    if teacher.id != school_class.teacher_id:
        raise PermissionError(f"user {teacher.id} does not teach class {school_class.id}")
    title = (title or "").strip()
    if not title or len(title) > TITLE_MAX:
        raise ValueError(f"title must be 1 to {TITLE_MAX} characters")
    if due_at is not None and due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    if max_in_flight is not None:
        check_quota(session, teacher.id, max_in_flight)
    activity = Activity(
        class_id=school_class.id,
        title=title,
        description=description or "",
        due_at=due_at,
        published_at=utcnow(),
    )
    session.add(activity)
    session.flush()  # the job's payload needs the id
    job = new_job(session, "activity_fanout", {"activity_id": activity.id}, owner_id=teacher.id)
    return activity, job
