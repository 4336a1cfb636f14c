"""The guard rails and changes after publishing: a due date in the past needs confirming, an
edit or unpublish tells each student once (in the app, and by email per their preference through
an `activity_notice` job), a scheduled activity can be moved or cancelled until it goes out. The
caller commits and sends (core.jobs.outbox.commit_and_send)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core.activities import activity_path, changed_notification_key, unpublished_notification_key
from core.db import UTCDateTime, utcnow
from core.jobs.outbox import new_job
from core.jobs.types import ACTIVITY_NOTICE, ActivityNoticePayload
from core.models import Activity, Enrollment, Notification


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
