"""`activity_notice` (core/jobs/types.py ACTIVITY_NOTICE): the emails of an activity's "changed"
and "withdrawn" notices, routed like every other kind (core.notifying.route, kind
`activity_changed`). The web tier writes the in-app notices in the edit's transaction
(web/common/activity_edits.py, once per student and notice) and enqueues this job with them.

The first job (no `student_ids`) is the fan-out: the students who hold the in-app notice,
those whose channel is email, in a batch of chunks of this same type (key
core.activities.notice_batch_key, so a second fan-out finds it and adds nothing). Each chunk
emails its students once (effect key notice_email_key). A "changed" email whose activity was
withdrawn meanwhile is not sent: the withdrawn notice supersedes it, and its link would be a 404.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.activities import activity_path, notice_batch_key, notice_email_key, notice_key
from core.jobs.batches import COUNTS, start_batch
from core.jobs.types import ACTIVITY_NOTICE, NOTIFY_CHUNK_SIZE, ActivityNoticePayload
from core.links import absolute
from core.models import Activity, Batch, Notification, User
from core.notification_kinds import ACTIVITY_CHANGED
from core.notifying import local_time, route
from worker.context import JobContext
from worker.handlers import handles
from worker.notify_mail import Sending


@handles(ACTIVITY_NOTICE)
def activity_notice(ctx: JobContext, payload: ActivityNoticePayload) -> dict[str, Any]:
    if payload.student_ids is None:
        return _fan_out(ctx, payload)
    return _send(ctx, payload, payload.student_ids)


def _fan_out(ctx: JobContext, payload: ActivityNoticePayload) -> dict[str, Any]:
    session = ctx.session
    key = notice_batch_key(payload.activity_id, payload.notice)
    existing = session.scalar(sa.select(Batch).where(Batch.key == key))
    if existing is not None:
        return {"batch_id": str(existing.id), "already_started": True}
    told = session.scalars(sa.select(Notification.user_id).where(
        Notification.activity_id == payload.activity_id,
        Notification.dedupe_key == notice_key(payload.activity_id, payload.notice)).order_by(Notification.user_id)).all()
    routed = route(session, told, ACTIVITY_CHANGED.name)
    emailed = routed.email
    batch = start_batch(
        session, owner_id=ctx.job.owner_id, parent_job_id=ctx.job.id, key=key,
        description=f"Emails: activity {payload.activity_id} {payload.notice}",
        children=[(ACTIVITY_NOTICE, ActivityNoticePayload(activity_id=payload.activity_id, notice=payload.notice,
                                                          student_ids=emailed[i:i + NOTIFY_CHUNK_SIZE]))
                  for i in range(0, len(emailed), NOTIFY_CHUNK_SIZE)])
    return {"batch_id": str(batch.id), "students": len(told), "emailed": len(emailed),
            "digest": len(routed.digest), "off": len(routed.off)}


def _send(ctx: JobContext, payload: ActivityNoticePayload, student_ids: list[int]) -> dict[str, Any]:
    session = ctx.session
    total = len(student_ids)
    activity = session.get(Activity, payload.activity_id)
    if activity is None or (payload.notice == "changed" and activity.status == "unpublished"):
        return {"skipped": "the activity is gone or was withdrawn since", "recipients": total,
                COUNTS: {"succeeded": total, "failed": 0}}
    school_class = activity.school_class
    # Chosen when the chunk runs: a student who turned the kind off meanwhile gets nothing.
    emailed = set(route(session, student_ids, ACTIVITY_CHANGED.name).email)
    users = {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(student_ids)))}
    # A withdrawn activity's page is a 404 for students: that email links to the class instead.
    path = activity_path(activity.id) if payload.notice == "changed" else f"/student/classes/{school_class.id}"
    link = absolute(ctx.services.settings.public_base_url, path)
    sending = Sending(ctx, total=total)
    with sending.recording():
        for student_id in student_ids:
            user = users.get(student_id)
            if user is None or student_id not in emailed:
                sending.done_one()
                continue
            sending.send(notice_email_key(activity.id, payload.notice, student_id), student_id, user.email,
                         f"activity_{payload.notice}", {
                             "student": {"id": user.id, "name": user.full_name},
                             "school_class": {"code": school_class.code, "name": school_class.name},
                             "activity": {"id": activity.id, "title": activity.title,
                                          "due": local_time(activity.due_at, user.time_zone) or None},
                             "link": link,
                         })
    return sending.result()
