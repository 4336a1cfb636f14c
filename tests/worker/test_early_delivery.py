"""A delivery that comes before its job is due is never the last word: the worker sends the
message again for the time that remains before it answers 200 (which deletes the delivered
one), and the stalled-job reclaim re-sends a due job whose message was lost."""
from __future__ import annotations

import time
from datetime import timedelta

import boto3
import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import envelope_for
from core.jobs.queue import SqsQueue
from core.models import Job
from tests.sqsd import deliver, fire_task, pump

SKEW = timedelta(seconds=3)


def _job(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def _visible(sqs, queue_url: str) -> list[dict]:
    return sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])


def _counts(sqs, queue_url: str) -> tuple[int, int]:
    """(visible, delayed) messages on the queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesDelayed"])


def _wait_for_message(sqs, queue_url: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = _visible(sqs, queue_url)
        if messages:
            assert len(messages) == 1, messages
            return messages[0]
        time.sleep(0.1)
    raise AssertionError(f"no message became visible within {timeout} s")


def _deliver_as_sqsd(sqs, queue_url: str, worker_client, message: dict):
    response = deliver(worker_client, message["Body"], message["MessageId"])
    if response.status_code == 200:  # exactly what sqsd does: only 200 deletes
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return response


def _dead_queue(queue_url: str) -> SqsQueue:
    # Nothing listens on port 1: every send fails fast, as when SQS is unreachable.
    dead = boto3.client("sqs", region_name="us-east-1", endpoint_url="http://127.0.0.1:1",
                        config=boto3.session.Config(connect_timeout=1, retries={"max_attempts": 1}))
    return SqsQueue(dead, queue_url)


def test_a_retry_delivered_early_is_sent_again_and_runs_when_due(worker_client, db, sqs, aws, probe, make_job,
                                                                  monkeypatch):
    queue_url = aws["SQS_QUEUE_URL"]
    failures = iter([ConnectionError("SES throttled")])

    def flaky(ctx):
        for exc in failures:
            raise exc
        return {"ok": True}

    probe.behaviour = flaky
    job = make_job()
    first = deliver(worker_client, envelope_for(job).to_json())
    assert first.get_json()["outcome"] == "retry_scheduled"
    row = _job(db, job.id)
    assert row.state == "retrying" and row.next_attempt_at > utcnow()
    due = row.next_attempt_at

    # The retry's message reaches an instance whose clock is SKEW behind: for it, the job is
    # not due yet.
    import worker.runner

    monkeypatch.setattr(worker.runner, "utcnow", lambda: utcnow() - SKEW)
    early = _deliver_as_sqsd(sqs, queue_url, worker_client, _wait_for_message(sqs, queue_url, timeout=5))
    assert early.status_code == 200
    body = early.get_json()
    assert (body["outcome"], body["state"]) == ("not_claimed", "retrying")
    # What remains on that instance's clock, rounded up to whole seconds as SQS takes them.
    remaining = (due - (utcnow() - SKEW)).total_seconds()
    assert remaining < body["resent_with_delay_seconds"] <= remaining + 1.5
    assert probe.runs == 1 and _job(db, job.id).state == "retrying"

    # The delivered message is deleted; its replacement waits on the queue, out of sight.
    assert _counts(sqs, queue_url) == (0, 1)
    assert _visible(sqs, queue_url) == []
    sent_at = time.monotonic()
    message = _wait_for_message(sqs, queue_url, timeout=body["resent_with_delay_seconds"] + 3)
    assert time.monotonic() - sent_at >= body["resent_with_delay_seconds"] - 1.0, "delivered before its delay"

    # Delivered when due (on the same slow clock), the retry runs and succeeds.
    response = _deliver_as_sqsd(sqs, queue_url, worker_client, message)
    assert response.status_code == 200 and response.get_json()["outcome"] == "succeeded"
    row = _job(db, job.id)
    assert (row.state, row.attempts, probe.runs) == ("succeeded", 2, 2)
    assert _counts(sqs, queue_url) == (0, 0)


def test_a_queued_job_delivered_before_it_is_due_is_sent_again(worker_client, db, sqs, aws, probe, make_job):
    job = make_job()
    db.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=utcnow() + timedelta(seconds=60),
                                                             published_at=utcnow()))
    db.commit()
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200
    assert response.get_json()["state"] == "queued" and 59 <= response.get_json()["resent_with_delay_seconds"] <= 60
    assert _counts(sqs, aws["SQS_QUEUE_URL"]) == (0, 1)
    assert probe.runs == 0 and _job(db, job.id).state == "queued"


def test_an_early_delivery_is_kept_when_it_cannot_be_sent_again(worker_app, worker_client, db, sqs, aws, probe,
                                                                make_job):
    job = make_job()
    db.execute(sa.update(Job).where(Job.id == job.id).values(
        state="retrying", attempts=1, next_attempt_at=utcnow() + timedelta(seconds=60), published_at=utcnow()))
    db.commit()
    services = worker_app.extensions["aula"]
    working = services.queue
    services.queue = _dead_queue(working.queue_url)
    try:
        response = deliver(worker_client, envelope_for(job).to_json())
    finally:
        services.queue = working
    assert response.status_code == 503, "not 200: sqsd must keep the message and deliver it again"
    assert "could not be sent again" in response.get_json()["error"]
    row = _job(db, job.id)
    assert (row.state, row.attempts, probe.runs) == ("retrying", 1, 0)


def test_an_early_delivery_beyond_the_delay_window_goes_back_to_the_relay(worker_client, db, sqs, aws, probe,
                                                                        make_job):
    job = make_job()
    db.execute(sa.update(Job).where(Job.id == job.id).values(
        state="retrying", attempts=1, next_attempt_at=utcnow() + timedelta(hours=2), published_at=utcnow()))
    db.commit()
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200 and response.get_json()["resent_with_delay_seconds"] is None
    assert _job(db, job.id).published_at is None, "unpublished: the relay sends it once it is within 900 s"
    assert _counts(sqs, aws["SQS_QUEUE_URL"]) == (0, 0)
    assert fire_task(worker_client, "relay-outbox", "/sqsd/tasks/relay-outbox").get_json()["sent"] == 0

    db.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert fire_task(worker_client, "relay-outbox", "/sqsd/tasks/relay-outbox").get_json()["sent"] == 1
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    assert _job(db, job.id).state == "succeeded"


@pytest.mark.parametrize("state", ["retrying", "queued"])
def test_reclaim_resends_a_due_job_whose_message_was_lost(worker_client, db, sqs, aws, probe, make_job, state):
    job = make_job()
    # Published 40 minutes ago, due 30 minutes ago, and nothing on the queue: the message is gone.
    db.execute(sa.update(Job).where(Job.id == job.id).values(
        state=state, attempts=1 if state == "retrying" else 0, next_attempt_at=utcnow() - timedelta(minutes=30),
        published_at=utcnow() - timedelta(minutes=40)))
    db.commit()
    assert _counts(sqs, aws["SQS_QUEUE_URL"]) == (0, 0)
    result = fire_task(worker_client, "reclaim-stalled", "/sqsd/tasks/reclaim-stalled").get_json()
    assert (result["reclaimed"], result["resent"], result["sent"]) == (0, 1, 1)
    assert _counts(sqs, aws["SQS_QUEUE_URL"]) == (1, 0)
    # Late, not lost (a backlog): the next ticks leave it alone for RESEND_INTERVAL...
    for minutes_ago in (0, 2, 9):
        db.execute(sa.update(Job).where(Job.id == job.id).values(published_at=utcnow() - timedelta(minutes=minutes_ago)))
        db.commit()
        again = fire_task(worker_client, "reclaim-stalled", "/sqsd/tasks/reclaim-stalled").get_json()
        assert (again["resent"], again["sent"]) == (0, 0), minutes_ago
    # ...then send one more: a duplicate, which the claim makes harmless.
    db.execute(sa.update(Job).where(Job.id == job.id).values(published_at=utcnow() - timedelta(minutes=11)))
    db.commit()
    assert fire_task(worker_client, "reclaim-stalled", "/sqsd/tasks/reclaim-stalled").get_json()["resent"] == 1
    assert _counts(sqs, aws["SQS_QUEUE_URL"]) == (2, 0)

    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200, 200]
    row = _job(db, job.id)
    assert (row.state, row.attempts - (1 if state == "retrying" else 0), probe.runs) == ("succeeded", 1, 1)


def test_reclaim_leaves_jobs_just_due_never_sent_running_or_dead_lettered(worker_client, db, sqs, aws, probe, make_job):
    recent, unpublished, running, dead = make_job(), make_job(), make_job(), make_job()
    db.execute(sa.update(Job).where(Job.id == recent.id).values(
        state="retrying", attempts=1, next_attempt_at=utcnow() - timedelta(seconds=30),
        published_at=utcnow() - timedelta(minutes=20)))
    db.execute(sa.update(Job).where(Job.id == unpublished.id).values(
        state="retrying", attempts=1, next_attempt_at=utcnow() + timedelta(hours=1), published_at=None))
    db.execute(sa.update(Job).where(Job.id == running.id).values(
        state="running", attempts=1, lease_expires_at=utcnow() + timedelta(minutes=1),
        published_at=utcnow() - timedelta(minutes=20)))
    # Its message is in the dead-letter queue, waiting for an operator's redrive: not lost.
    db.execute(sa.update(Job).where(Job.id == dead.id).values(
        state="retrying", attempts=1, next_attempt_at=utcnow() - timedelta(minutes=5),
        published_at=utcnow() - timedelta(minutes=20), dead_lettered_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    result = fire_task(worker_client, "reclaim-stalled", "/sqsd/tasks/reclaim-stalled").get_json()
    assert (result["reclaimed"], result["resent"], result["sent"]) == (0, 0, 0)
    assert _counts(sqs, aws["SQS_QUEUE_URL"]) == (0, 0)
