"""The dead-letter queue: look without losing anything, mark the jobs, and send back on demand.

Messages land there after MaxRetries failed deliveries (crash loops, timeouts, refused bodies).
The monitor and the console only read: messages are hidden for the length of one pass and then
made visible again, never deleted. Redrive moves them back to the worker queue, attributes
included (a periodic task's message keeps its task name and path), all of them or only those of
chosen jobs. Purge empties the queue (PurgeQueue) and fails the open jobs whose messages it held.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.orm import Session

from core.jobs import lifecycle
from core.jobs.envelope import Envelope, EnvelopeError
from core.models import Job
from core.models.jobs import DEAD_LETTERED, OPEN_STATES, TERMINAL_STATES
from core.models.ops import QueueSample

log = logging.getLogger(__name__)
PASS_VISIBILITY_SECONDS = 60
# A targeted redrive that finds nothing asks again this many times, this far apart.
REDRIVE_ASK_AGAIN = 3
REDRIVE_PAUSE_SECONDS = 0.3
DEAD_LETTER_NOTE = "its message failed delivery repeatedly and is in the dead-letter queue; an operator can redrive it"
PURGED_NOTE = "its message was purged from the dead-letter queue by an operator; it will not run"
# Open jobs failed per statement after a purge, and the most one purge fails: the rest keep their
# dead-letter mark and the monitor's note (a second purge, or a reprocess, deals with them).
_PURGE_CHUNK, _PURGE_MAX_CHUNKS = 200, 50
_OPEN = Job.__table__.c.state.in_(OPEN_STATES)
_DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                     "ApproximateNumberOfMessagesDelayed"]


def _job_id(body: str) -> uuid.UUID | None:
    try:
        return Envelope.parse(body).job_id
    except EnvelopeError:
        return None


def _receive(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    return sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=PASS_VISIBILITY_SECONDS,
        WaitTimeSeconds=0,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])


@dataclass(frozen=True)
class Depth:
    """One GetQueueAttributes reading of a queue."""

    visible: int
    in_flight: int
    delayed: int


def depth(sqs: Any, queue_url: str) -> Depth:
    values = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=_DEPTH_ATTRIBUTES)["Attributes"]
    return Depth(*(int(values.get(name, 0)) for name in _DEPTH_ATTRIBUTES))


def peek(sqs: Any, dlq_url: str, max_messages: int) -> list[dict[str, Any]]:
    """Up to `max_messages` messages of the queue, each as SQS returned it, made visible again
    before returning (a receive hides them; nothing is deleted). A message may appear twice in
    one pass (SQS samples its servers), so they are returned once each by MessageId."""
    seen: dict[str, dict[str, Any]] = {}
    try:
        while len(seen) < max_messages:
            batch = _receive(sqs, dlq_url)
            if not batch:
                break
            fresh = [m for m in batch if m["MessageId"] not in seen]
            seen.update((m["MessageId"], m) for m in fresh)
            if not fresh:
                break
    finally:
        _make_visible(sqs, dlq_url, list(seen.values()))
    return list(seen.values())[:max_messages]


def inspect(session: Session, sqs: Any, dlq_url: str, now: datetime, max_messages: int = 500) -> dict[str, int]:
    count = depth(sqs, dlq_url).visible
    seen = peek(sqs, dlq_url, max_messages)
    marked = 0
    job_ids = [job_id for job_id in (_job_id(m["Body"]) for m in seen) if job_id is not None]
    for job_id in job_ids:
        marked += session.execute(
            sa.update(Job).where(Job.id == job_id, Job.dead_lettered_at.is_(None)).values(dead_lettered_at=now)
        ).rowcount
        # A job still waiting on that message would otherwise look "queued" for ever.
        session.execute(
            sa.update(Job).where(Job.id == job_id, Job.state.not_in(TERMINAL_STATES)).values(error=DEAD_LETTER_NOTE)
        )
    session.commit()
    return {"dead_letters": count, "seen": len(seen), "marked": marked, "unmatched": len(seen) - len(job_ids)}


def _make_visible(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> None:
    for start in range(0, len(messages), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )


def _forward(session: Session, sqs: Any, dlq_url: str, queue_url: str, batch: list[dict[str, Any]]) -> int:
    """Send `batch` to the worker queue, delete what arrived from the dead-letter queue, clear
    those jobs' marks; returns how many moved."""
    sent = sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": str(i), "MessageBody": m["Body"], **({"MessageAttributes": m["MessageAttributes"]}
                                                       if m.get("MessageAttributes") else {})}
            for i, m in enumerate(batch)
        ],
    )
    ok = [batch[int(entry["Id"])] for entry in sent.get("Successful", [])]
    if not ok:
        return 0
    # Deleted only once the copy is safely on the worker queue.
    sqs.delete_message_batch(
        QueueUrl=dlq_url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ok)],
    )
    job_ids = [job_id for job_id in (_job_id(m["Body"]) for m in ok) if job_id is not None]
    if job_ids:
        session.execute(sa.update(Job).where(Job.id.in_(job_ids)).values(dead_lettered_at=None))
        session.execute(sa.update(Job).where(Job.id.in_(job_ids), Job.error == DEAD_LETTER_NOTE).values(error=None))
        session.commit()
    return len(ok)


def redrive(session: Session, sqs: Any, dlq_url: str, queue_url: str, limit: int = 10_000,
            job_ids: Collection[uuid.UUID] | None = None) -> int:
    """Move up to `limit` messages back to the worker queue; return how many moved.

    With `job_ids`, only the messages of those jobs: the others met on the way stay hidden for
    the pass (so the search does not meet them again) and are made visible again at its end;
    `limit` then bounds the messages looked at, and the search stops once every job is found."""
    if job_ids is not None:
        return _redrive_jobs(session, sqs, dlq_url, queue_url, set(job_ids), limit)
    moved = 0
    while moved < limit:
        batch = _receive(sqs, dlq_url)[: limit - moved]
        if not batch:
            break
        ok = _forward(session, sqs, dlq_url, queue_url, batch)
        moved += ok
        if ok < len(batch):
            break  # SQS refused some; stop rather than spin, they stay in the dead-letter queue
    return moved


def _redrive_jobs(session: Session, sqs: Any, dlq_url: str, queue_url: str, wanted: set[uuid.UUID],
                  limit: int) -> int:
    moved, looked, passed, asked_again = 0, 0, [], 0
    try:
        while wanted and looked < limit:
            batch = _receive(sqs, dlq_url)
            while not batch and asked_again < REDRIVE_ASK_AGAIN:
                # A short poll samples some of SQS's servers, and another reader (a console's
                # peek, the monitor) may hold the message for a moment before making it visible
                # again: an empty answer is asked again a few times, a moment apart.
                asked_again += 1
                time.sleep(REDRIVE_PAUSE_SECONDS)
                batch = _receive(sqs, dlq_url)
            if not batch:
                break
            looked += len(batch)
            chosen = [m for m in batch if _job_id(m["Body"]) in wanted]
            passed += [m for m in batch if m not in chosen]
            if chosen:
                ok = _forward(session, sqs, dlq_url, queue_url, chosen)
                moved += ok
                if ok < len(chosen):
                    break
                # Found: stop looking for it. A second copy of its message (a duplicate delivery
                # dead-lettered twice) stays, for a later redrive or purge.
                wanted -= {_job_id(m["Body"]) for m in chosen}
    finally:
        _make_visible(sqs, dlq_url, passed)
    return moved


def purge(session: Session, sqs: Any, dlq_url: str, now: datetime) -> int:
    """Empty the dead-letter queue (PurgeQueue: SQS allows one a minute per queue, and raises
    PurgeQueueInProgress for a second) and fail the open jobs marked dead-lettered, whose
    messages went with it; they keep `dead_lettered_at`. Returns how many jobs were failed.
    The caller marks the jobs of the queue first (`inspect`), as the monitor does every five
    minutes, so the messages that arrived since its last pass are counted too."""
    sqs.purge_queue(QueueUrl=dlq_url)
    failed = 0
    for _ in range(_PURGE_MAX_CHUNKS):
        ids = session.scalars(
            sa.select(Job.id).where(sa.text(DEAD_LETTERED), Job.state.in_(OPEN_STATES)).limit(_PURGE_CHUNK)
        ).all()
        if not ids:
            break
        # Through the lifecycle's own end of a job, so a batch counts its child and a workflow
        # fails its step (and compensates), as when a run fails.
        for job_id in ids:
            failed += lifecycle._end(session, job_id, (_OPEN,), "failed", now, error=PURGED_NOTE)
        session.commit()
    return failed


def record_depths(session: Session, sqs: Any, queues: dict[str, str], now: datetime) -> dict[str, Depth]:
    """One QueueSample per queue ({"main": url, "dead": url}) at `now`, for the console's counts
    over time; committed. A queue SQS does not answer for is left out of this reading."""
    found: dict[str, Depth] = {}
    for name, url in queues.items():
        try:
            found[name] = reading = depth(sqs, url)
        except (BotoCoreError, ClientError):  # a missing reading must not stop the monitor's own work
            log.warning("no depth reading of the %s queue", name, exc_info=True)
            continue
        session.merge(QueueSample(taken_at=now, queue=name, visible=reading.visible, in_flight=reading.in_flight,
                                  delayed=reading.delayed))
    session.commit()
    return found
