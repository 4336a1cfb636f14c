"""The web tier's background outbox sender (core/jobs/sender.py), in this process: what it is
handed is sent and marked published; whatever it cannot send (SQS failing, no room, SQS hung,
closed) stays an unpublished row that the relay sends. Processes (fork, SIGKILL, exit) are in
test_sender_processes.py."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from core.db import utcnow
from core.jobs.envelope import Envelope
from core.jobs.outbox import commit_and_send, new_job, relay
from core.jobs.queue import MAX_DELAY_SECONDS, SqsQueue
from core.jobs.sender import Sender
from core.jobs.types import CANARY
from core.models import Job
from tests import factories
from tests.core.jobs.gate import sqs_client

WAIT = 30  # seconds; only reached when something is wrong


@pytest.fixture
def services(web_app):
    return web_app.extensions["aula"]


def _jobs(db, count: int) -> list[uuid.UUID]:
    return [new_job(db, CANARY, {"note": f"job {n}"}, None).id for n in range(count)]


def _published(db, ids) -> dict[uuid.UUID, bool]:
    db.expire_all()
    rows = db.execute(sa.select(Job.id, Job.published_at).where(Job.id.in_(list(ids)))).all()
    return {row.id: row.published_at is not None for row in rows}


def _queued_job_ids(sqs, queue_url: str) -> list[str]:
    """Every message on the queue (read, not deleted: hidden until the test's queue is recreated)."""
    ids = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        ids += [Envelope.parse(message["Body"]).job_id for message in messages]
    return [str(job_id) for job_id in ids]


def _side_queue(services, client, capacity: int | None = None) -> SqsQueue:
    """A queue of the same URL through another client (a failing or hung SQS), with its own sender."""
    queue = SqsQueue(client, services.queue.queue_url)
    kwargs = {} if capacity is None else {"capacity": capacity}
    queue.sender = Sender(queue, services.db.sessions, **kwargs)
    return queue


def test_jobs_handed_over_are_sent_in_batches_and_marked_published(services, db, sqs, aws):
    ids = _jobs(db, 23)  # three SendMessageBatch calls
    assert commit_and_send(db, services.queue) == 23  # handed over, not necessarily sent yet
    assert services.queue.sender.wait_idle(WAIT)
    assert sorted(_queued_job_ids(sqs, aws["SQS_QUEUE_URL"])) == sorted(map(str, ids))
    assert _published(db, ids) == dict.fromkeys(ids, True)
    assert relay(db, services.queue) == 0  # nothing left for the relay


def test_a_rolled_back_job_is_never_handed_over(services, db, sqs, aws):
    _jobs(db, 1)
    db.rollback()
    assert commit_and_send(db, services.queue) == 0
    assert services.queue.sender.wait_idle(WAIT)
    assert _queued_job_ids(sqs, aws["SQS_QUEUE_URL"]) == []


def test_a_retry_due_beyond_sqs_delay_window_is_left_to_the_relay(services, db, sqs, aws):
    later = new_job(db, CANARY, {}, None, next_attempt_at=utcnow() + timedelta(seconds=MAX_DELAY_SECONDS + 60))
    soon = new_job(db, CANARY, {}, None, next_attempt_at=utcnow() + timedelta(seconds=60))
    assert commit_and_send(db, services.queue) == 1
    assert services.queue.sender.wait_idle(WAIT)
    attributes = sqs.get_queue_attributes(QueueUrl=aws["SQS_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # `soon`, sent with its delay
    assert _published(db, [later.id, soon.id]) == {later.id: False, soon.id: True}


def test_when_sqs_fails_the_rows_stay_unpublished_and_the_relay_sends_them(services, db, sqs, aws):
    # A real SQS error through boto3: the sender's client points at a queue that does not exist.
    failing = SqsQueue(services.queue.sqs, aws["SQS_QUEUE_URL"] + "-gone")
    failing.sender = Sender(failing, services.db.sessions)
    try:
        ids = _jobs(db, 3)
        assert commit_and_send(db, failing) == 3
        assert failing.sender.wait_idle(WAIT)
        assert _published(db, ids) == dict.fromkeys(ids, False)
        assert _queued_job_ids(sqs, aws["SQS_QUEUE_URL"]) == []

        assert relay(db, services.queue) == 3
        assert sorted(_queued_job_ids(sqs, aws["SQS_QUEUE_URL"])) == sorted(map(str, ids))
        assert _published(db, ids) == dict.fromkeys(ids, True)
    finally:
        failing.sender.close(1)


def test_a_full_sender_holds_nothing_up_and_the_relay_sends_the_rest(services, db, sqs, aws, hung_sqs):
    hung = _side_queue(services, sqs_client(hung_sqs.url), capacity=2)
    try:
        first = _jobs(db, 1)
        assert commit_and_send(db, hung) == 1
        assert hung_sqs.arrived.wait(WAIT)  # the sender's thread took it and is stuck sending it
        rest = _jobs(db, 4)
        # Room for two more: the other two are refused at once, while SQS still hangs.
        assert commit_and_send(db, hung) == 2
        assert not hung.sender.wait_idle(0) and hung_sqs.connections == 1
        ids = first + rest
        assert _published(db, ids) == dict.fromkeys(ids, False)

        assert relay(db, services.queue) == 5  # the relay sends all of them, held or refused
        assert sorted(_queued_job_ids(sqs, aws["SQS_QUEUE_URL"])) == sorted(map(str, ids))
        assert _published(db, ids) == dict.fromkeys(ids, True)
    finally:
        hung_sqs.close()
        hung.sender.close(WAIT)


def test_with_sqs_hung_requests_still_answer_one_thread_sends_and_closing_gives_up(
        web_app, services, db, sqs, aws, hung_sqs):
    # The app's own sender, its client pointed at an SQS that never answers (the web tier's fast
    # client gives up after its read timeout; here the call would hang for a minute).
    services.queue.sqs = sqs_client(hung_sqs.url)
    teacher = factories.user(db, factories.institution(db), "teacher")
    school_class, _ = factories.school_class(db, teacher, students=1)
    db.commit()
    client = FlaskClient(web_app, web_app.response_class)  # a plain one: it does not wait for the sender
    headers = factories.login(client, teacher)
    answers = [client.post("/api/reports", headers=headers, json={
        "kind": "class_roster", "class_id": school_class.id, "format": fmt}) for fmt in ("csv", "xlsx")]
    assert [answer.status_code for answer in answers] == [202, 202]
    assert hung_sqs.arrived.wait(WAIT)
    senders = [t for t in threading.enumerate() if t.name == "aula-outbox-sender"]
    assert len(senders) == 1  # one thread per process, however long SQS hangs

    assert services.queue.sender.close(0.2) is False  # bounded: gives up and says so
    job_ids = [uuid.UUID(answer.get_json()["job"]["id"]) for answer in answers]
    assert _published(db, job_ids) == dict.fromkeys(job_ids, False)
    hung_sqs.close()  # the held call fails now; the thread ends
    senders[0].join(WAIT)
    assert not senders[0].is_alive()

    services.queue.sqs = sqs
    assert relay(db, services.queue) == 2
    assert _published(db, job_ids) == dict.fromkeys(job_ids, True)


def test_close_sends_what_is_held_and_then_takes_nothing(services, db, sqs, aws):
    ids = _jobs(db, 12)
    commit_and_send(db, services.queue)
    assert services.queue.sender.close(WAIT) is True
    assert sorted(_queued_job_ids(sqs, aws["SQS_QUEUE_URL"])) == sorted(map(str, ids))
    assert _published(db, ids) == dict.fromkeys(ids, True)

    late = _jobs(db, 1)
    assert commit_and_send(db, services.queue) == 0  # closed: left to the relay
    assert _published(db, late) == {late[0]: False}


def test_only_the_web_tier_has_a_sender_and_its_thread_starts_with_the_first_message(web_app, worker_app, db):
    """The worker sends inline, before answering sqsd (docs/jobs.md says why)."""
    assert worker_app.extensions["aula"].queue.sender is None
    sender = web_app.extensions["aula"].queue.sender
    assert sender is not None and not sender.running
    _jobs(db, 1)
    commit_and_send(db, web_app.extensions["aula"].queue)
    assert sender.running
