"""core/jobs/pauses.py: the per-process cache of paused types (its window, and `forget`), and the
relay's exact exclusion of paused types (in SQL, not cached), which keeps their jobs unsent until
the resume and then sends them oldest first."""
from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs import pauses
from core.jobs.envelope import Envelope
from core.jobs.outbox import new_job, relay, unpublish_lost
from core.jobs.queue import SqsQueue
from core.models import Job
from core.models.ops import JobTypePause


@pytest.fixture(autouse=True)
def _fresh_cache():
    pauses.forget()
    yield
    pauses.forget()


@pytest.fixture
def queue(aws):
    return SqsQueue(boto3.client("sqs", region_name="us-east-1"), aws["SQS_QUEUE_URL"])


def _pause(session, job_type: str) -> None:
    session.add(JobTypePause(type=job_type, reason="r", paused_at=utcnow()))
    session.commit()


def _sent(queue) -> list[str]:
    ids = []
    while messages := queue.sqs.receive_message(QueueUrl=queue.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        ids += [str(Envelope.parse(m["Body"]).job_id) for m in messages]
    return ids


def test_the_paused_set_is_cached_for_its_window_and_forgotten_on_demand(session):
    clock = [100.0]
    engine = session.get_bind()
    assert pauses.paused_types(engine, clock=lambda: clock[0]) == frozenset()
    _pause(session, "email")
    clock[0] += pauses.CACHE_SECONDS / 2
    assert pauses.paused_types(session, clock=lambda: clock[0]) == frozenset(), "within the window: cached"
    clock[0] += pauses.CACHE_SECONDS
    assert pauses.paused_types(session, clock=lambda: clock[0]) == frozenset({"email"})
    session.execute(sa.delete(JobTypePause))
    session.commit()
    pauses.forget(engine)
    assert pauses.paused_types(session, clock=lambda: clock[0]) == frozenset()


def test_the_read_leaves_the_callers_transaction_alone(session):
    session.add(JobTypePause(type="report", reason="pending, not committed", paused_at=utcnow()))
    session.flush()
    assert pauses.paused_types(session) == frozenset()  # another connection: it cannot see the flush
    assert session.in_transaction() and session.get(JobTypePause, "report") is not None
    session.rollback()


def test_the_relay_sends_nothing_of_a_paused_type_and_everything_in_order_once_resumed(session, queue):
    first = new_job(session, "canary", {"note": "1"}, None)
    other = new_job(session, "report", {"kind": "class_roster", "class_id": 1, "format": "csv"}, None)
    session.commit()
    second = new_job(session, "canary", {"note": "2"}, None)
    session.commit()
    session.execute(sa.update(Job).where(Job.id == second.id).values(created_at=utcnow() + timedelta(seconds=1)))
    session.commit()
    _pause(session, "canary")
    assert relay(session, queue) == 1
    assert _sent(queue) == [str(other.id)]
    assert relay(session, queue) == 0  # still held: no loop, nothing sent again

    session.execute(sa.delete(JobTypePause))
    session.commit()
    assert relay(session, queue) == 2
    assert _sent(queue) == [str(first.id), str(second.id)]


def test_the_lost_message_check_leaves_a_paused_type_alone(session):
    job = new_job(session, "canary", {"note": "1"}, None)
    session.commit()
    long_ago = utcnow() - timedelta(hours=1)
    session.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=long_ago, published_at=long_ago))
    session.commit()
    _pause(session, "canary")
    assert unpublish_lost(session, utcnow()) == 0
    session.execute(sa.delete(JobTypePause))
    session.commit()
    assert unpublish_lost(session, utcnow()) == 1
