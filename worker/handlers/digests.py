"""The daily digest (issue 13, item 6): one email per user per local date, at their local
morning (core.notifying.local_morning: from 07:00 until noon in users.time_zone, UTC when
unknown), listing the notifications of the kinds they receive by digest since their previous
digest.

The `digests` periodic task (worker/tasks.py, every 15 minutes) calls `start_digests`: it finds
the users with a `digest` preference and a notification of such a kind in the last
CANDIDATE_WINDOW, keeps those whose local morning it is and who were not put in a batch for that
local date yet (an effect digest_queued_key, recorded in the same transaction as the batch), and
starts one batch of `digest_chunk` jobs of NOTIFY_CHUNK_SIZE users. The task runs under its
lease; the queued keys make a later run skip them.

`digest_chunk` (DIGEST_CHUNK) sends each user's digest at most once (effect digest_key, whose
detail holds `until`, where the next digest starts). A user with nothing new since (or who
switched the digest off meanwhile) gets no email; the key is recorded all the same, so the
window goes on from there.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs.batches import start_batch
from core.jobs.types import DIGEST_CHUNK, NOTIFY_CHUNK_SIZE, DigestChunkPayload, DigestRecipient
from core.links import absolute
from core.models import Effect, Notification, NotificationPreference, User
from core.notification_kinds import KINDS
from core.notifying import (
    DIGEST,
    FIRST_DIGEST_WINDOW,
    digest_key,
    digest_kinds,
    digest_queued_key,
    local_morning,
    previous_digest_keys,
    zone,
    zone_label,
)
from worker.context import JobContext
from worker.effects import record_effect, record_effects
from worker.handlers import handles
from worker.notify_mail import Sending

# A user is a candidate with a digest notification this recent (more than a day: a digest's
# window runs from the previous one).
CANDIDATE_WINDOW = timedelta(hours=36)
# The most notifications one digest lists; it says how many more there are.
DIGEST_MAX_ITEMS = 50
# A digest's window ends this long before it runs, and the next one starts there. A notification
# is dated by the clock of the process that wrote it and seen only once that commits: one dated
# just before the digest ran may appear only after it read (another instance's clock behind this
# one's, make chaos R7; a transaction still open). Outside this window, it is in the next one
# rather than in neither.
SETTLE = timedelta(minutes=2)


def start_digests(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Start the batch of the digests due now (the caller commits and sends)."""
    now = now or utcnow()
    candidates = session.execute(
        sa.select(User.id, User.time_zone).where(User.id.in_(
            sa.select(NotificationPreference.user_id)
            .join(Notification, sa.and_(Notification.user_id == NotificationPreference.user_id,
                                        Notification.kind == NotificationPreference.kind))
            .where(NotificationPreference.channel == DIGEST, Notification.created_at > now - CANDIDATE_WINDOW)))
        .order_by(User.id)).all()
    due = [(user_id, day) for user_id, time_zone in candidates
           if (day := local_morning(time_zone, now)) is not None]
    queued: set[str] = set()
    for start in range(0, len(due), 1000):
        keys = [digest_queued_key(user_id, day) for user_id, day in due[start:start + 1000]]
        queued.update(session.scalars(sa.select(Effect.key).where(Effect.key.in_(keys))))
    todo = [(user_id, day) for user_id, day in due if digest_queued_key(user_id, day) not in queued]
    if not todo:
        return {"candidates": len(candidates), "due": len(due), "queued": 0}
    record_effects(session, None, [(digest_queued_key(user_id, day), {"queued_at": now.isoformat()})
                                   for user_id, day in todo])
    start_batch(
        session, owner_id=None, parent_job_id=None,
        description=f"Daily digests of {len(todo)} users ({now:%Y-%m-%d %H:%M} UTC)",
        children=[(DIGEST_CHUNK, DigestChunkPayload(recipients=[
            DigestRecipient(user_id=user_id, local_date=day.isoformat())
            for user_id, day in todo[start:start + NOTIFY_CHUNK_SIZE]]))
            for start in range(0, len(todo), NOTIFY_CHUNK_SIZE)],
    )
    return {"candidates": len(candidates), "due": len(due), "queued": len(todo)}


def _since(session: Session, user_id: int, day: date, now: datetime) -> datetime:
    """Where this digest's window starts: where the previous one ended."""
    ends = [detail.get("until") for detail in session.scalars(
        sa.select(Effect.detail).where(Effect.key.in_(previous_digest_keys(user_id, day)))) if detail]
    ends = [datetime.fromisoformat(e) for e in ends if isinstance(e, str)]
    return max(ends) if ends else now - FIRST_DIGEST_WINDOW


@handles(DIGEST_CHUNK)
def send_digests(ctx: JobContext, payload: DigestChunkPayload) -> dict[str, Any]:
    session = ctx.session
    sending = Sending(ctx, total=len(payload.recipients))
    base_url = ctx.services.settings.public_base_url
    with sending.recording():
        for recipient in payload.recipients:
            day = date.fromisoformat(recipient.local_date)
            key = digest_key(recipient.user_id, day)
            user = session.get(User, recipient.user_id)
            if user is None:
                sending.done_one()
                continue
            if sending.already(key):
                sending.already_sent += 1
                continue
            until = utcnow() - SETTLE
            kinds = digest_kinds(session, user.id)
            items = session.scalars(
                sa.select(Notification).where(
                    Notification.user_id == user.id, Notification.kind.in_(kinds),
                    Notification.created_at > _since(session, user.id, day, until), Notification.created_at <= until)
                .order_by(Notification.created_at, Notification.id).limit(DIGEST_MAX_ITEMS + 1)).all() if kinds else []
            detail = {"until": until.isoformat(), "items": min(len(items), DIGEST_MAX_ITEMS)}
            if not items:
                record_effect(session, key, ctx.job.id, {**detail, "empty": True})
                sending.done_one()
                continue
            tz = zone(user.time_zone)
            sending.send(key, user.id, user.email, "digest", {
                "user": {"id": user.id, "name": user.full_name},
                "date": day.isoformat(),
                "items": [{
                    "title": n.title, "body": n.body or "", "kind": KINDS[n.kind].label if n.kind in KINDS else n.kind,
                    "at": f"{n.created_at.astimezone(tz):%Y-%m-%d %H:%M}",
                    "link": absolute(base_url, n.link) if n.link else None,
                } for n in items[:DIGEST_MAX_ITEMS]],
                "more": len(items) > DIGEST_MAX_ITEMS,
                "time_zone": zone_label(user.time_zone),
                "inbox": absolute(base_url, "/notifications"),
                "preferences": absolute(base_url, "/preferences"),
            }, detail=detail)
    return sending.result()
