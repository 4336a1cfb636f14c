"""The console's dead letters: what the dead-letter queue holds, grouped by job type and error,
its depth over the last day (queue_depths.py), and the operators' actions on it (redrive, purge).

A look is a bounded peek (core.jobs.deadletters.peek: received, then made visible again at once)
of at most PEEK_LIMIT messages, kept PEEK_CACHE_SECONDS per process so a refreshing page or a few
operators looking at once cost SQS one pass, not one each. A redrive or purge in one process must
not leave another showing the messages it moved: a kept look is used only when it was taken
ACTION_SETTLE_SECONDS after the newest such action in the audit log (one indexed read per look),
so for that long after an action every process reads the queue again. The rest of the queue is
counted, not read (ApproximateNumberOfMessages). A group's error is the job row's: the error of
its last attempt when the monitor has replaced the row's error with its own note.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.orm import Session

from core.app import Services
from core.db import utcnow
from core.jobs import deadletters
from core.models import Job, User
from core.models.ops import AuditEntry, JobAttempt
from web.common.dates import iso
from web.common.ops.access import is_operator, jobs_in_scope, operator_only
from web.common.ops.audit import record
from web.common.ops.queue_depths import samples
from web.common.refusal import Refusal

PEEK_LIMIT = 100
PEEK_CACHE_SECONDS = 10
# An action runs inside one web request (gunicorn's timeout, 30 s): a look taken sooner after its
# audit entry than this may have raced it.
ACTION_SETTLE_SECONDS = 35
ACTIONS = ("dead_letters.redrive", "dead_letters.purge")
# Messages one console redrive moves (or, for chosen jobs, looks at): a web request must stay
# well inside gunicorn's 30 s; the page says how many are left, and the CLI moves any number.
REDRIVE_LIMIT = 500
ERROR_SHOWN = 300  # characters of an error a group is keyed and titled by
PERIODIC_BODY = "elasticbeanstalk scheduled job"
NOT_CONFIGURED = "no dead-letter queue is configured (SQS_DEAD_LETTER_QUEUE_URL is not set)"


@dataclass(frozen=True)
class Peeked:
    message_id: str
    job_id: uuid.UUID | None
    task: str | None  # a periodic task's message (sqsd's cron body and attributes)
    body: str  # the first characters, for a body that is not an envelope
    receive_count: int
    sent_at: datetime | None


@dataclass(frozen=True)
class Look:
    taken_at: datetime
    depth: deadletters.Depth
    messages: tuple[Peeked, ...]


_cache: dict[str, tuple[float, Look]] = {}
_cache_lock = threading.Lock()


def dead_letter_queue(services: Services) -> str | None:
    return services.settings.sqs_dead_letter_queue_url


def configured_queue(services: Services) -> str:
    """The dead-letter queue's URL; 409 when there is none (nothing to act on)."""
    url = dead_letter_queue(services)
    if not url:
        raise Refusal(409, NOT_CONFIGURED)
    return url


def _sqs_refusal(exc: Exception) -> Refusal:
    return Refusal(503, f"SQS did not answer: {exc}"[:300])


def _timestamp(attributes: dict[str, Any], name: str) -> datetime | None:
    raw = attributes.get(name)
    if not raw or not str(raw).isdigit():
        return None
    return datetime.fromtimestamp(int(raw) / 1000, tz=utcnow().tzinfo)


def _peeked(message: dict[str, Any]) -> Peeked:
    body = message.get("Body") or ""
    attributes = message.get("Attributes") or {}
    task_attribute = (message.get("MessageAttributes") or {}).get("beanstalk.sqsd.task_name") or {}
    task = task_attribute.get("StringValue") if body == PERIODIC_BODY else None
    count = str(attributes.get("ApproximateReceiveCount", "0"))
    return Peeked(message["MessageId"], deadletters._job_id(body), task if isinstance(task, str) else None,
                  body[:200], int(count) if count.isdigit() else 0, _timestamp(attributes, "SentTimestamp"))


def _last_action(session: Session) -> datetime | None:
    """When the newest redrive or purge was recorded, by any process (None: never)."""
    return session.scalar(sa.select(sa.func.max(AuditEntry.created_at)).where(AuditEntry.action.in_(ACTIONS)))


def _kept(url: str, last_action: datetime | None) -> Look | None:
    cached = _cache.get(url)
    if cached is None or time.monotonic() - cached[0] >= PEEK_CACHE_SECONDS:
        return None
    if last_action is not None and (cached[1].taken_at - last_action).total_seconds() <= ACTION_SETTLE_SECONDS:
        return None
    return cached[1]


def look(services: Services, session: Session) -> Look:
    """The cached peek of the dead-letter queue (Refusal 409 without one, 503 if SQS fails)."""
    url = configured_queue(services)
    last_action = _last_action(session)
    if (kept := _kept(url, last_action)) is not None:
        return kept
    with _cache_lock:  # one pass at a time; those who waited use its result
        if (kept := _kept(url, last_action)) is not None:
            return kept
        sqs = services.queue.sqs
        try:
            depth = deadletters.depth(sqs, url)
            messages = deadletters.peek(sqs, url, PEEK_LIMIT)
        except (BotoCoreError, ClientError) as exc:
            raise _sqs_refusal(exc) from None
        found = Look(utcnow(), depth, tuple(_peeked(m) for m in messages))
        _cache[url] = (time.monotonic(), found)
        return found


def forget(services: Services) -> None:
    """After an action: the next look reads the queue again."""
    _cache.pop(dead_letter_queue(services) or "", None)


def _last_errors(session: Session, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each job's latest attempt error (at most PEEK_LIMIT jobs, a few attempts each)."""
    found: dict[uuid.UUID, str] = {}
    rows = session.execute(
        sa.select(JobAttempt.job_id, JobAttempt.error)
        .where(JobAttempt.job_id.in_(job_ids), JobAttempt.error.is_not(None))
        .order_by(JobAttempt.job_id, JobAttempt.attempt.desc())
    )
    for job_id, error in rows:
        found.setdefault(job_id, error)
    return found


def _group_error(job: Any, attempt_errors: dict[uuid.UUID, str]) -> str:
    error = job.error
    if error in (None, deadletters.DEAD_LETTER_NOTE):
        error = attempt_errors.get(job.id) or error
    return (error or "(no error recorded)")[:ERROR_SHOWN]


def view(session: Session, user: User, seen: Look, now: datetime) -> dict[str, Any]:
    """What `user` may see of a look, grouped: operators every message; an admin only those of
    their institution's jobs (unknown jobs, periodic tasks and unreadable bodies are no one's)."""
    job_ids = list({m.job_id for m in seen.messages if m.job_id is not None})
    rows = {}
    if job_ids:
        query = sa.select(Job.id, Job.type, Job.state, Job.error, Job.owner_id, Job.dead_lettered_at,
                          Job.created_at).where(Job.id.in_(job_ids), jobs_in_scope(user))
        rows = {row.id: row for row in session.execute(query)}
    attempt_errors = _last_errors(session, [i for i, row in rows.items()
                                            if row.error in (None, deadletters.DEAD_LETTER_NOTE)])
    operator = is_operator(user)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for message in seen.messages:
        entry = {"message_id": message.message_id, "receive_count": message.receive_count,
                 "sent_at": iso(message.sent_at)}
        row = rows.get(message.job_id) if message.job_id else None
        if row is not None:
            key = ("job", row.type, _group_error(row, attempt_errors))
            entry.update(job={"id": str(row.id), "type": row.type, "state": row.state, "url": f"/ops/jobs/{row.id}",
                              "created_at": iso(row.created_at), "dead_lettered_at": iso(row.dead_lettered_at)})
        elif not operator:
            continue
        elif message.job_id is not None:
            key = ("unknown_job", "", "no job row has this id (deleted by retention, or never committed)")
            entry.update(job={"id": str(message.job_id), "type": None, "state": None, "url": None,
                              "created_at": None, "dead_lettered_at": None})
        elif message.task is not None:
            key = ("periodic_task", message.task, "a periodic task's run that sqsd could not deliver")
        else:
            key = ("unparseable", "", "the body is not a job envelope")
            entry.update(body=message.body)
        group = groups.setdefault(key, {"kind": key[0], "type": key[1] or None, "error": key[2], "messages": []})
        group["messages"].append(entry)
    ordered = sorted(groups.values(), key=lambda g: (-len(g["messages"]), g["kind"], g["type"] or "", g["error"]))
    for group in ordered:
        group["count"] = len(group["messages"])
    return {
        "configured": True,
        "depth": {"visible": seen.depth.visible, "in_flight": seen.depth.in_flight, "delayed": seen.depth.delayed},
        "peeked": len(seen.messages),
        "peek_limit": PEEK_LIMIT,
        "not_peeked": max(0, seen.depth.visible - len(seen.messages)),
        "peeked_at": iso(seen.taken_at),
        "groups": ordered,
        "samples": samples(session, now),
        "can_act": operator,
    }


def not_configured_view(session: Session, user: User, now: datetime) -> dict[str, Any]:
    return {"configured": False, "message": NOT_CONFIGURED, "depth": None, "peeked": 0, "peek_limit": PEEK_LIMIT,
            "not_peeked": 0, "peeked_at": None, "groups": [], "samples": samples(session, now),
            "can_act": False}


def parse_job_ids(raw: Any) -> list[uuid.UUID]:
    """`job_ids` from a request: a list of at most PEEK_LIMIT job UUIDs (400 naming the field)."""
    if not isinstance(raw, list) or not raw:
        raise Refusal(400, "job_ids: a non-empty list of job ids", field="job_ids")
    if len(raw) > PEEK_LIMIT:
        raise Refusal(400, f"job_ids: at most {PEEK_LIMIT} at a time", field="job_ids")
    ids = []
    for value in raw:
        try:
            ids.append(uuid.UUID(value) if isinstance(value, str) and len(value) <= 40 else None)
        except ValueError:
            ids.append(None)
        if ids[-1] is None:
            raise Refusal(400, "job_ids: each must be a job id (a UUID)", field="job_ids")
    return list(dict.fromkeys(ids))


def redrive(session: Session, services: Services, user: User, job_ids: list[uuid.UUID] | None) -> dict[str, Any]:
    """Move dead letters back to the worker queue with the CLI's code (core.jobs.deadletters.redrive):
    the messages of `job_ids`, or (None) all of them, REDRIVE_LIMIT at most per call."""
    operator_only(user, "redrive dead letters")
    url = configured_queue(services)
    # Added before the redrive's first commit, so it commits with the first messages' marks.
    entry = record(session, user, "dead_letters.redrive", "dead-letters" if job_ids is None else "jobs",
                   None, all=job_ids is None, job_ids=[str(i) for i in job_ids or []])
    try:
        moved = deadletters.redrive(session, services.queue.sqs, url, services.queue.queue_url,
                                    limit=REDRIVE_LIMIT, job_ids=job_ids)
        left = deadletters.depth(services.queue.sqs, url).visible
    except (BotoCoreError, ClientError) as exc:
        session.rollback()
        raise _sqs_refusal(exc) from None
    finally:
        forget(services)
    entry.count = moved
    session.commit()
    return {"moved": moved, "requested": None if job_ids is None else len(job_ids), "left": left,
            "limit": REDRIVE_LIMIT}


def _purge_in_progress(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")).endswith("PurgeQueueInProgress")


def purge(session: Session, services: Services, user: User, expected_count: int) -> dict[str, Any]:
    """Empty the dead-letter queue once the caller confirmed how many messages it holds (409 with
    the current count when that changed, 429 within a minute of the last purge: SQS's rule).
    The open jobs whose messages go with it are failed (core.jobs.deadletters.purge)."""
    operator_only(user, "purge the dead-letter queue")
    url = configured_queue(services)
    sqs, now = services.queue.sqs, utcnow()
    try:
        depth = deadletters.depth(sqs, url)
    except (BotoCoreError, ClientError) as exc:
        raise _sqs_refusal(exc) from None
    count = depth.visible + depth.in_flight
    if expected_count != count:
        raise Refusal(409, f"the dead-letter queue holds {count} messages now, not {expected_count}: "
                           "confirm that count", field="expected_count", count=count)
    try:
        # Marks the jobs of the messages not yet marked (those since the monitor's last pass).
        deadletters.inspect(session, sqs, url, now)
        record(session, user, "dead_letters.purge", "dead-letters", count)
        failed = deadletters.purge(session, sqs, url, now)
    except ClientError as exc:
        session.rollback()
        if _purge_in_progress(exc):
            raise Refusal(429, "SQS allows one purge of a queue a minute; try again in a minute",
                          retry_after=60) from None
        raise _sqs_refusal(exc) from None
    except BotoCoreError as exc:
        session.rollback()
        raise _sqs_refusal(exc) from None
    finally:
        forget(services)
    session.commit()
    return {"purged": count, "jobs_failed": failed}
