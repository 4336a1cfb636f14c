"""The worker's answers to sqsd. Only 200 deletes a message, so 200 must mean "recorded"."""
from __future__ import annotations

import json
import threading
import time
import uuid

import sqlalchemy as sa

from core.jobs.envelope import Envelope
from core.jobs.outbox import envelope_for
from core.models import Job
from tests.sqsd import deliver
from worker.connections import EXTENSION
from worker.errors import PermanentJobError


def _job(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def test_success_answers_200_and_records_the_result(worker_client, db, probe, make_job):
    job = make_job()
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200 and response.get_json()["outcome"] == "succeeded"
    row = _job(db, job.id)
    assert (row.state, row.progress, row.attempts, row.result) == ("succeeded", 100, 1, {"ok": True})
    assert row.started_at and row.finished_at and row.lease_expires_at is None


def test_a_duplicate_of_a_finished_job_answers_200_without_running_again(worker_client, db, probe, make_job):
    job = make_job()
    body = envelope_for(job).to_json()
    assert deliver(worker_client, body).status_code == 200
    again = deliver(worker_client, body, receive_count=2)
    assert again.status_code == 200 and again.get_json() == {"outcome": "not_claimed", "state": "succeeded"}
    assert probe.runs == 1 and _job(db, job.id).attempts == 1


def test_two_concurrent_deliveries_run_the_job_once(worker_app, db, probe, make_job):
    job = make_job()
    body = envelope_for(job).to_json()
    start = threading.Barrier(2)

    def slow(ctx):
        time.sleep(0.3)  # keeps the first run going while the second delivery arrives
        return {"ok": True}

    probe.behaviour = slow
    statuses: list[int] = []

    def post() -> None:
        client = worker_app.test_client()
        start.wait()
        statuses.append(deliver(client, body).status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200, 200]
    assert probe.runs == 1
    assert _job(db, job.id).state == "succeeded" and _job(db, job.id).attempts == 1


def test_unknown_job_type_is_refused_without_touching_the_job(worker_client, db, probe, make_job):
    job = make_job()
    body = Envelope(job_id=job.id, type="no-such-type", trace_id="t").to_json()
    response = deliver(worker_client, body)
    assert response.status_code == 422 and "unknown job type" in response.get_json()["error"]
    assert _job(db, job.id).state == "queued" and probe.runs == 0


def test_message_type_must_match_the_row(worker_client, db, probe, make_job):
    job = make_job()
    body = Envelope(job_id=job.id, type="report", trace_id="t").to_json()
    assert deliver(worker_client, body).status_code == 422
    assert _job(db, job.id).state == "queued"


def test_bad_bodies_are_400_so_they_end_in_the_dead_letter_queue(worker_client):
    for body in (b"{not json", b"[1, 2]", json.dumps({"v": 1, "job_id": "nope", "type": "probe"}).encode(),
                 json.dumps({"job_id": str(uuid.uuid4()), "type": "probe"}).encode(), b""):
        response = deliver(worker_client, body)
        assert response.status_code == 400, body
        assert "error" in response.get_json()


def test_a_newer_envelope_version_is_422(worker_client, probe, make_job):
    job = make_job()
    body = json.dumps({"v": 2, "job_id": str(job.id), "type": "probe", "trace_id": "t"})
    assert deliver(worker_client, body).status_code == 422
    assert probe.runs == 0


def test_unknown_fields_in_the_envelope_are_ignored(worker_client, probe, make_job):
    job = make_job()
    body = json.dumps({"v": 1, "job_id": str(job.id), "type": "probe", "trace_id": "t", "added_later": 1})
    assert deliver(worker_client, body).status_code == 200 and probe.runs == 1


def test_missing_row_is_404_so_the_message_is_kept(worker_client, probe):
    body = Envelope(job_id=uuid.uuid4(), type="probe", trace_id="t").to_json()
    response = deliver(worker_client, body)
    assert response.status_code == 404 and probe.runs == 0


def test_a_post_without_sqsd_headers_is_400(worker_client, probe, make_job):
    job = make_job()
    response = worker_client.post("/sqsd/jobs", data=envelope_for(job).to_json(), content_type="application/json")
    assert response.status_code == 400 and probe.runs == 0


def test_the_web_role_refuses_sqsd_posts(client, db, probe, make_job):
    job = make_job()
    response = deliver(client, envelope_for(job).to_json())
    assert response.status_code == 403 and "worker tier" in response.get_json()["error"]
    assert probe.runs == 0 and _job(db, job.id).state == "queued"


def test_a_permanent_error_fails_the_job_and_answers_200(worker_client, db, probe, make_job):
    def broken(ctx):
        raise PermanentJobError("the class was deleted")

    probe.behaviour = broken
    job = make_job()
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200 and response.get_json()["outcome"] == "failed"
    row = _job(db, job.id)
    assert (row.state, row.error, row.attempts) == ("failed", "the class was deleted", 1)
    assert row.finished_at is not None


def test_a_transient_error_schedules_a_delayed_retry_and_answers_200(worker_client, db, sqs, aws, probe, make_job):
    def flaky(ctx):
        raise ConnectionError("SES throttled")

    probe.behaviour = flaky
    job = make_job()
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200 and response.get_json()["outcome"] == "retry_scheduled"
    row = _job(db, job.id)
    assert row.state == "retrying" and row.attempts == 1 and "SES throttled" in row.error
    assert row.next_attempt_at > row.started_at and row.published_at is not None
    attributes = sqs.get_queue_attributes(QueueUrl=aws["SQS_QUEUE_URL"], AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_an_early_redelivery_of_a_scheduled_retry_does_not_run_it(worker_client, db, probe, make_job):
    probe.behaviour = lambda ctx: (_ for _ in ()).throw(ConnectionError("down"))
    job = make_job()
    body = envelope_for(job).to_json()
    deliver(worker_client, body)
    again = deliver(worker_client, body, receive_count=2)
    assert again.status_code == 200
    assert (again.get_json()["outcome"], again.get_json()["state"]) == ("not_claimed", "retrying")
    assert probe.runs == 1


def test_the_last_attempt_fails_the_job(worker_client, db, probe, make_job):
    probe.behaviour = lambda ctx: (_ for _ in ()).throw(ConnectionError("still down"))
    job = make_job()
    body = envelope_for(job).to_json()
    for attempt in range(1, 4):
        db.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=None))
        db.commit()
        assert deliver(worker_client, body, receive_count=attempt).status_code == 200
    row = _job(db, job.id)
    assert row.state == "failed" and row.attempts == 3
    assert row.error.startswith("gave up after 3 attempts") and "still down" in row.error


def test_database_down_is_503_so_sqsd_redelivers(worker_app, worker_client, probe, make_job, monkeypatch):
    job = make_job()
    dead = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    kept = worker_app.extensions[EXTENSION]
    kept.close()  # the database is gone: so are the connections kept for the next message
    monkeypatch.setattr(kept, "engine", dead)  # where the runner opens the connection each message runs on
    worker_app.extensions["aula"].db.sessions.configure(bind=dead)
    try:
        response = deliver(worker_client, envelope_for(job).to_json())
    finally:
        dead.dispose()
    assert response.status_code == 503 and probe.runs == 0


def test_a_connection_the_database_dropped_between_messages_is_replaced_and_the_claim_runs(
    worker_app, worker_client, db, probe, make_job
):
    first, second = make_job(), make_job()
    assert deliver(worker_client, envelope_for(first).to_json()).get_json()["outcome"] == "succeeded"
    # What an RDS fail-over or idle reaping does to the connection kept for the next message.
    kept = worker_app.extensions[EXTENSION]
    taken = kept.take()
    taken[1].connection.dbapi_connection.close()
    kept.give_back(taken, clean=True)  # as far as the worker knows, still a good connection

    response = deliver(worker_client, envelope_for(second).to_json())
    assert response.status_code == 200 and response.get_json()["outcome"] == "succeeded"
    assert (_job(db, second.id).state, _job(db, second.id).attempts, probe.runs) == ("succeeded", 1, 2)


def test_ses_throttling_is_retried_and_a_rejected_message_fails_at_once(worker_client, db, probe, make_job):
    from botocore.exceptions import ClientError

    def ses(code):
        def send(ctx):
            raise ClientError({"Error": {"Code": code, "Message": "from SES"}}, "SendEmail")
        return send

    probe.behaviour = ses("Throttling")
    throttled = make_job()
    assert deliver(worker_client, envelope_for(throttled).to_json()).get_json()["outcome"] == "retry_scheduled"
    probe.behaviour = ses("MessageRejected")
    rejected = make_job()
    assert deliver(worker_client, envelope_for(rejected).to_json()).get_json()["outcome"] == "failed"
    assert (_job(db, throttled.id).state, _job(db, rejected.id).state) == ("retrying", "failed")
    assert "from SES" in _job(db, rejected.id).error


def test_each_run_writes_one_metrics_line_with_outcome_duration_and_queue_wait(worker_app, worker_client, probe,
                                                                             make_job, monkeypatch):
    seen: list[tuple] = []
    monkeypatch.setattr(worker_app.extensions["aula"].metrics, "job_finished", lambda *args: seen.append(args))
    probe.behaviour = lambda ctx: (_ for _ in ()).throw(PermanentJobError("no"))
    deliver(worker_client, envelope_for(make_job()).to_json())
    probe.behaviour = lambda ctx: {"ok": True}
    deliver(worker_client, envelope_for(make_job()).to_json())
    assert [(job_type, outcome) for job_type, outcome, _, _ in seen] == [("probe", "failed"), ("probe", "succeeded")]
    assert all(duration >= 0 and wait >= 0 for _, _, duration, wait in seen)
