"""A paused job type (core/jobs/pauses.py): the worker answers sqsd's POST for one of its jobs
with 200 without claiming it (SQS deletes the message: no receive count climbs towards the
dead-letter queue) and leaves the job queued and unpublished; neither the relay nor the web
tier's sender sends it; once resumed, the relay (and the resume itself) send it again and it runs
exactly once, duplicates included."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs import pauses
from core.jobs.outbox import commit_and_send, envelope_for, new_job, relay, unpublish_lost
from core.models import Job
from core.models.ops import AuditEntry, JobTypePause
from tests import factories, factories_ops
from tests.sqsd import deliver, pump


@pytest.fixture(autouse=True)
def _fresh_cache():
    pauses.forget()
    yield
    pauses.forget()


def _job(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def _pause(db, job_type: str = "probe") -> None:
    db.add(JobTypePause(type=job_type, reason="testing the pause", paused_at=utcnow()))
    db.commit()
    pauses.forget()


def _depth(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return sum(int(attributes[name]) for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                                  "ApproximateNumberOfMessagesDelayed"))


def test_a_paused_delivery_is_acknowledged_unclaimed_and_runs_once_after_resume(
        worker_app, worker_client, client, db, sqs, aws, probe, make_job):
    queue_url = aws["SQS_QUEUE_URL"]
    services = worker_app.extensions["aula"]
    job = make_job()
    assert relay(db, services.queue) == 1  # its message is on the queue
    _pause(db)

    assert pump(sqs, queue_url, worker_client) == [200]  # acknowledged: sqsd deletes it
    row = _job(db, job.id)
    assert (row.state, row.attempts, row.published_at, probe.runs) == ("queued", 0, None, 0)
    assert _depth(sqs, queue_url) == 0

    # Nothing sends it while paused: not the relay, not the lost-message check.
    assert relay(db, services.queue) == 0
    assert unpublish_lost(db, utcnow()) == 0
    assert _depth(sqs, queue_url) == 0 and _job(db, job.id).published_at is None

    # Resumed by an operator: the resume hands it to the sender at once, and the relay sending it
    # again too is a duplicate that the claim turns into a no-op.
    operator = factories_ops.operator(db)
    db.commit()
    response = client.delete("/api/ops/pauses/probe", headers=factories.login(client, operator))
    assert response.status_code == 200 and response.get_json() == {"resumed": "probe", "sent_now": 1}
    pauses.forget()  # the worker's cached set, as CACHE_SECONDS later
    db.execute(sa.update(Job).where(Job.id == job.id).values(published_at=None))
    db.commit()
    assert relay(db, services.queue) == 1
    statuses = pump(sqs, queue_url, worker_client)
    assert statuses == [200, 200]
    row = _job(db, job.id)
    assert (row.state, row.attempts, probe.runs) == ("succeeded", 1, 1)
    assert db.scalar(sa.select(AuditEntry.action).where(AuditEntry.target == "type:probe")) == "resume"


def test_the_sender_does_not_send_a_paused_type(web_app, db, sqs, aws, probe):
    _pause(db)
    services = web_app.extensions["aula"]
    job = new_job(db, "probe", {}, owner_id=None)
    other = new_job(db, "canary", {"note": "not paused"}, owner_id=None)
    assert commit_and_send(db, services.queue) == 1
    assert services.queue.sender.wait_idle(30)
    assert _job(db, job.id).published_at is None
    assert _job(db, other.id).published_at is not None


def test_a_paused_retry_stays_retrying_and_unpublished(worker_client, db, probe, make_job):
    job = make_job()
    db.execute(sa.update(Job).where(Job.id == job.id).values(state="retrying", attempts=1, error="boom",
                                                             next_attempt_at=utcnow(), published_at=utcnow()))
    db.commit()
    _pause(db)
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200 and response.get_json() == {"outcome": "paused", "state": "retrying"}
    row = _job(db, job.id)
    assert (row.state, row.attempts, row.published_at, probe.runs) == ("retrying", 1, None, 0)


def test_a_finished_job_of_a_paused_type_is_left_as_it_is(worker_client, db, probe, make_job):
    job = make_job()
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    _pause(db)
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200 and response.get_json() == {"outcome": "paused", "state": "succeeded"}
    assert probe.runs == 1


def test_a_missing_row_of_a_paused_type_is_still_redelivered(worker_client, db, probe, make_job):
    job = make_job()
    envelope = envelope_for(job).to_json()
    db.delete(_job(db, job.id))
    db.commit()
    _pause(db)
    assert deliver(worker_client, envelope).status_code == 404


def test_within_the_cache_window_a_pause_is_not_seen_yet_and_the_job_runs(worker_app, worker_client, db, probe,
                                                                        make_job):
    """The documented window (pauses.CACHE_SECONDS): a delivery just after the pause may still run."""
    engine = worker_app.extensions["aula"].db.engine
    assert pauses.paused_types(engine) == frozenset()  # cached: nothing paused
    job = make_job()
    db.add(JobTypePause(type="probe", reason="just now", paused_at=utcnow()))
    db.commit()
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    pauses.forget(engine)
    assert pauses.paused_types(engine) == frozenset({"probe"})
