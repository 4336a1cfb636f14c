"""Pausing and resuming a job type from the console (operators only; audited). What a pause does
to deliveries and sends is in core/jobs/pauses.py; this module validates, records and serializes.

Resuming deletes the pause in its own transaction with the audit entry; the type's held jobs
(queued or retrying, unpublished) are then the outbox relay's to send, oldest first, within its
next run (a minute at most). On the web tier the first RESUME_HAND_OVER of them are also handed
to the background sender at once, in creation order, so a resume is felt within seconds; the
relay sending one of those again is a duplicate message the claim makes harmless."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs import pauses
from core.jobs.envelope import Envelope
from core.jobs.queue import MAX_DELAY_SECONDS, SqsQueue
from core.jobs.types import JOB_TYPES
from core.models import Job, User
from core.models.jobs import OPEN_STATES
from core.models.ops import JobCount, JobTypePause
from web.common.ops.access import is_operator, operator_only
from web.common.ops.audit import record
from web.common.refusal import Refusal

REASON_MAX = 200  # job_type_pauses.reason
RESUME_HAND_OVER = 500


def declared_type(name: str) -> str:
    """`name` if it is a declared job type; 404 otherwise (nothing to pause)."""
    if name not in JOB_TYPES:
        raise Refusal(404, f"no job type {name[:64]!r}")
    return name


def clean_reason(raw: Any) -> str:
    if raw is None:
        raise Refusal(400, "reason: required (why the type is paused, shown to everyone who sees its jobs)",
                      field="reason")
    if not isinstance(raw, str):
        raise Refusal(400, "reason: must be a string", field="reason")
    reason = raw.strip()
    if not reason:
        raise Refusal(422, "reason: must not be empty", field="reason")
    if len(reason) > REASON_MAX:
        raise Refusal(422, f"reason: at most {REASON_MAX} characters", field="reason")
    if "\x00" in reason:
        raise Refusal(400, "reason: must not contain NUL characters", field="reason")
    return reason


def held_jobs(session: Session, job_type: str) -> int:
    """The type's queued and retrying jobs, from the counters (what a pause holds, a resume lets go)."""
    return int(session.scalar(sa.select(sa.func.coalesce(sa.func.sum(JobCount.n), 0))
                              .where(JobCount.type == job_type, JobCount.state.in_(OPEN_STATES))) or 0)


def pause(session: Session, actor: User, job_type: str, raw_reason: Any) -> tuple[JobTypePause, bool]:
    """Pause `job_type` (or change the reason of its pause) and commit; (the pause, whether it is new)."""
    operator_only(actor, "pause a job type")
    job_type = declared_type(job_type)
    reason = clean_reason(raw_reason)
    existing = session.get(JobTypePause, job_type, with_for_update=True)
    if existing is None:
        existing = JobTypePause(type=job_type, reason=reason, paused_by=actor.id, paused_at=utcnow())
        session.add(existing)
        created = True
    else:
        created = False
        existing.reason = reason
    record(session, actor, "pause" if created else "pause_reason", f"type:{job_type}", held_jobs(session, job_type),
           reason=reason)
    try:
        session.commit()
    except sa.exc.IntegrityError:  # another operator paused it at the same moment: theirs stands
        session.rollback()
        raise Refusal(409, f"{job_type} was paused by someone else just now; reload") from None
    pauses.forget(session)
    return existing, created


def resume(session: Session, actor: User, job_type: str, queue: SqsQueue | None = None) -> int:
    """Resume `job_type` and commit; then hand the oldest held jobs to the sender. 404 when it
    is not paused. Returns how many messages were handed over at once."""
    operator_only(actor, "resume a job type")
    job_type = declared_type(job_type)
    existing = session.get(JobTypePause, job_type, with_for_update=True)
    if existing is None:
        raise Refusal(404, f"{job_type} is not paused")
    record(session, actor, "resume", f"type:{job_type}", held_jobs(session, job_type), reason=existing.reason,
           paused_at=existing.paused_at.isoformat())
    session.delete(existing)
    session.commit()
    pauses.forget(session)
    return _hand_over_held(session, job_type, queue)


def _hand_over_held(session: Session, job_type: str, queue: SqsQueue | None) -> int:
    if queue is None or queue.sender is None:
        return 0  # the relay sends them
    rows = session.execute(
        sa.select(Job.id, Job.type, Job.trace_id, Job.next_attempt_at)
        .where(Job.type == job_type, Job.state.in_(OPEN_STATES), Job.published_at.is_(None),
               # A retry due beyond SQS's delay window is the relay's, once it comes within it.
               sa.or_(Job.next_attempt_at.is_(None),
                      Job.next_attempt_at <= utcnow() + timedelta(seconds=MAX_DELAY_SECONDS)))
        .order_by(Job.created_at, Job.id).limit(RESUME_HAND_OVER)
    ).all()
    session.rollback()  # a read only: end it rather than keep a snapshot open
    try:
        return queue.sender.hand_over(
            (Envelope(job_id=row.id, type=row.type, trace_id=row.trace_id), row.next_attempt_at) for row in rows)
    except Exception:  # noqa: BLE001  (the relay sends them)
        return 0


def pause_json(entry: JobTypePause, viewer: User, names: dict[int, str] | None = None) -> dict[str, Any]:
    """A pause as the console shows it; who paused it only to operators (an admin sees why and since when)."""
    body: dict[str, Any] = {"type": entry.type, "label": JOB_TYPES[entry.type].label if entry.type in JOB_TYPES
                            else entry.type, "reason": entry.reason, "paused_at": entry.paused_at.isoformat()}
    if is_operator(viewer):
        body["paused_by"] = None if entry.paused_by is None else {
            "id": entry.paused_by, "name": (names or {}).get(entry.paused_by)}
    return body


def described(session: Session, entry: JobTypePause, viewer: User) -> dict[str, Any]:
    """One pause's JSON, with the name of whoever paused it."""
    who = session.get(User, entry.paused_by) if entry.paused_by is not None else None
    return pause_json(entry, viewer, {who.id: who.full_name} if who is not None else {})


def pauses_json(session: Session, viewer: User) -> list[dict[str, Any]]:
    entries = pauses.listed(session)
    ids = {e.paused_by for e in entries if e.paused_by is not None}
    names = {user_id: name for user_id, name in
             session.execute(sa.select(User.id, User.full_name).where(User.id.in_(ids)))} if ids else {}
    return [pause_json(entry, viewer, names) for entry in entries]
