"""The dead-letter queue: look without losing anything, mark the jobs, and send back on demand.

Messages land there after MaxRetries failed deliveries (crash loops, timeouts, refused bodies).
The monitor only reads: messages are hidden for the length of one pass and then made visible
again, never deleted. Redrive moves them back to the worker queue, attributes included (a
periodic task's message keeps its task name and path).
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.envelope import Envelope, EnvelopeError
from core.models import Job
from core.models.jobs import TERMINAL_STATES

PASS_VISIBILITY_SECONDS = 60
DEAD_LETTER_NOTE = "its message failed delivery repeatedly and is in the dead-letter queue; an operator can redrive it"


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


def inspect(session: Session, sqs: Any, dlq_url: str, now: datetime, max_messages: int = 500) -> dict[str, int]:
    count = int(sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
                ["Attributes"]["ApproximateNumberOfMessages"])
    seen: list[dict[str, Any]] = []
    while len(seen) < max_messages:
        batch = _receive(sqs, dlq_url)
        if not batch:
            break
        seen.extend(batch)
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
    _make_visible(sqs, dlq_url, seen)
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


def redrive(session: Session, sqs: Any, dlq_url: str, queue_url: str, limit: int = 10_000) -> int:
    """Move up to `limit` messages back to the worker queue; return how many moved."""
    moved = 0
    while moved < limit:
        batch = _receive(sqs, dlq_url)[: limit - moved]
        if not batch:
            break
        sent = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": m["Body"], **({"MessageAttributes": m["MessageAttributes"]}
                                                           if m.get("MessageAttributes") else {})}
                for i, m in enumerate(batch)
            ],
        )
        ok = [batch[int(entry["Id"])] for entry in sent.get("Successful", [])]
        if ok:
            # Deleted only once the copy is safely on the worker queue.
            sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(ok)],
            )
            job_ids = [job_id for job_id in (_job_id(m["Body"]) for m in ok) if job_id is not None]
            if job_ids:
                session.execute(
                    sa.update(Job).where(Job.id.in_(job_ids)).values(dead_lettered_at=None)
                )
                session.execute(
                    sa.update(Job).where(Job.id.in_(job_ids), Job.error == DEAD_LETTER_NOTE).values(error=None)
                )
                session.commit()
        moved += len(ok)
        if len(ok) < len(batch):
            break  # SQS refused some; stop rather than spin, they stay in the dead-letter queue
    return moved
