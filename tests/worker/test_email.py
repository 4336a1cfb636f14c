"""The `email` job, one email to one user as the previous release enqueued it (the fan-out now
sends chunks: test_email_chunks.py): sent once per effect key, SES errors classified, permanent
errors readable."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from botocore.stub import Stubber

from core.db import utcnow
from core.jobs.outbox import envelope_for
from core.models import Effect, Job
from tests import factories
from tests.sqsd import deliver, pump
from tests.support.ses import SentMail
from web.common.activities import publish_activity
from worker.effects import record_effect


@pytest.fixture
def sent(aws) -> SentMail:
    return SentMail()


@pytest.fixture
def lesson(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, (student,) = factories.school_class(db, teacher, students=1)
    activity, _fanout = publish_activity(db, group, teacher, "Lista 1", "Exercícios 1 a 10",
                                         utcnow() + timedelta(days=7))
    db.commit()
    return teacher, student, activity


def _payload(activity, student, **changes):
    return {"template": "activity_published", "to_user_id": student.id, "context": {"activity_id": activity.id},
            "effect_key": f"email:activity:{activity.id}:student:{student.id}", **changes}


def _job(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def test_an_email_is_sent_once_even_when_its_message_is_delivered_twice(worker_client, db, make_job, sent, lesson):
    teacher, student, activity = lesson
    job = make_job("email", _payload(activity, student), owner_id=teacher.id)
    body = envelope_for(job).to_json()

    first = deliver(worker_client, body)
    again = deliver(worker_client, body, receive_count=2)

    assert first.get_json()["outcome"] == "succeeded"
    assert again.status_code == 200 and again.get_json()["outcome"] == "not_claimed"
    assert sent.count() == 1 and sent.recipients() == {student.email: 1}
    [message] = sent.messages
    assert message.subject == f"New activity in {activity.school_class.code}: Lista 1"
    row = _job(db, job.id)
    effect = db.get(Effect, f"email:activity:{activity.id}:student:{student.id}")
    assert row.state == "succeeded" and row.result["message_id"] == message.id
    assert effect.job_id == job.id and effect.detail["message_id"] == message.id


def test_a_second_job_for_an_email_already_sent_does_not_send_it_again(worker_client, db, make_job, sent, lesson):
    teacher, student, activity = lesson
    first = make_job("email", _payload(activity, student), owner_id=teacher.id)
    second = make_job("email", _payload(activity, student), owner_id=teacher.id)

    assert deliver(worker_client, envelope_for(first).to_json()).get_json()["outcome"] == "succeeded"
    assert deliver(worker_client, envelope_for(second).to_json()).get_json()["outcome"] == "succeeded"

    assert sent.count() == 1
    second_row = _job(db, second.id)
    assert (second_row.result["already_sent"], second_row.result["sent"]) == (1, 0)
    assert second_row.result["message_id"] == _job(db, first.id).result["message_id"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Effect)) == 1


@pytest.mark.parametrize("code", ["TooManyRequestsException", "LimitExceededException", "Throttling"])
def test_ses_throttling_is_transient_a_retry_is_scheduled_and_then_sends(
    worker_app, worker_client, db, sqs, aws, make_job, sent, lesson, code
):
    teacher, student, activity = lesson
    job = make_job("email", _payload(activity, student), owner_id=teacher.id)
    mailer = worker_app.extensions["aula"].mailer
    with Stubber(mailer.ses) as ses:
        ses.add_client_error("send_email", service_error_code=code, service_message="Maximum sending rate exceeded.",
                             http_status_code=429 if code != "Throttling" else 400)
        response = deliver(worker_client, envelope_for(job).to_json())
        ses.assert_no_pending_responses()

    assert response.get_json()["outcome"] == "retry_scheduled"
    row = _job(db, job.id)
    assert row.state == "retrying" and row.attempts == 1 and row.next_attempt_at > utcnow()
    assert code in row.error and "Maximum sending rate exceeded" in row.error
    assert db.get(Effect, _payload(activity, student)["effect_key"]) is None and sent.count() == 0

    # The next attempt (made due now rather than waiting out the backoff) sends it.
    db.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=utcnow()))
    db.commit()
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert sent.count() == 1 and _job(db, job.id).attempts == 2


def test_an_email_ses_rejects_fails_at_once_with_a_readable_error(worker_app, worker_client, db, sqs, aws, make_job,
                                                                 sent, lesson):
    teacher, student, activity = lesson
    job = make_job("email", _payload(activity, student), owner_id=teacher.id)
    mailer = worker_app.extensions["aula"].mailer
    verified = mailer.sender
    mailer.sender = "someone-else@unverified.test"  # moto, like SES, answers MessageRejected
    try:
        response = deliver(worker_client, envelope_for(job).to_json())
    finally:
        mailer.sender = verified

    assert response.status_code == 200 and response.get_json()["outcome"] == "failed"
    row = _job(db, job.id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.error.startswith(f"SES refused the email to {student.email} (MessageRejected): ")
    assert "not verified" in row.error
    assert db.get(Effect, _payload(activity, student)["effect_key"]) is None and sent.count() == 0
    assert row.next_attempt_at is None and pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == []  # no retry


def test_a_bad_address_is_permanent(worker_app, worker_client, db, make_job, sent, lesson):
    teacher, student, activity = lesson
    job = make_job("email", _payload(activity, student), owner_id=teacher.id)
    with Stubber(worker_app.extensions["aula"].mailer.ses) as ses:
        ses.add_client_error("send_email", service_error_code="BadRequestException",
                             service_message="Missing final '@domain'", http_status_code=400)
        deliver(worker_client, envelope_for(job).to_json())
    row = _job(db, job.id)
    assert row.state == "failed" and "(BadRequestException): Missing final '@domain'" in row.error


@pytest.mark.parametrize("change, error", [
    ({"to_user_id": 999999}, "user 999999 no longer exists"),
    ({"template": "nope"}, "invalid payload: template must be one of 'activity_published'"),
    ({"to_user_id": "2"}, "invalid payload: to_user_id: input should be a valid integer"),
    ({"context": {"activity_id": 999999}}, "activity 999999 no longer exists"),
])
def test_missing_data_fails_permanently(worker_client, db, make_raw_job, sent, lesson, change, error):
    teacher, student, activity = lesson
    job = make_raw_job("email", _payload(activity, student, **change), owner_id=teacher.id)
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "failed"
    row = _job(db, job.id)
    assert (row.state, row.attempts) == ("failed", 1) and error in row.error
    assert sent.count() == 0


def test_the_worker_writes_the_local_mailbox_when_configured(worker_app, worker_client, db, make_job, lesson, tmp_path):
    teacher, student, activity = lesson
    mailer = worker_app.extensions["aula"].mailer
    mailer.mailbox_dir = tmp_path / "mailbox"
    job = make_job("email", _payload(activity, student), owner_id=teacher.id)
    deliver(worker_client, envelope_for(job).to_json())
    [eml] = (tmp_path / "mailbox").glob("*.eml")
    text = eml.read_text()
    assert f"To: {student.email}" in text and _job(db, job.id).result["message_id"] in text


def test_a_row_queued_by_the_previous_release_still_runs(worker_client, db, make_raw_job, sent, lesson):
    """Exactly what the fan-out stored before chunks existed, never re-validated on the way in."""
    teacher, student, activity = lesson
    job = make_raw_job("email", _payload(activity, student), owner_id=teacher.id)
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert sent.recipients() == {student.email: 1}
    assert db.get(Effect, _payload(activity, student)["effect_key"]).job_id == job.id


def test_recording_an_effect_twice_neither_raises_nor_aborts_the_transaction(db):
    assert record_effect(db, "email:test:1", None, {"message_id": "a"}) is True
    assert record_effect(db, "email:test:1", None, {"message_id": "b"}) is False
    db.commit()  # the transaction survived the conflict
    assert db.get(Effect, "email:test:1").detail == {"message_id": "a"}
