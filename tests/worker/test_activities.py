"""Publishing an activity end to end, in-process: fan-out → email chunks of EMAIL_CHUNK_SIZE
students (moto SES) → one summary to the teacher, which counts students; exactly once even with
a worker killed mid-chunk and duplicates (except the documented window: the emails a dead run
sent after its last checkpoint)."""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError
from moto.core.utils import unix_time as moto_unix_time
from moto.sqs import models as moto_sqs_models

from core.db import utcnow
from core.jobs.outbox import envelope_for, flush
from core.jobs.types import EMAIL_CHUNK_SIZE
from core.models import Activity, Batch, Effect, Enrollment, Job, Notification, NotificationPreference, User
from tests import factories
from tests.sqsd import deliver, fire_task, pump
from tests.support.ses import SentMail
from web.common.activities import publish_activity
from worker import email_chunk
from worker.email_chunk import RECORD_EVERY


@pytest.fixture
def sent(aws) -> SentMail:
    return SentMail()


@pytest.fixture(autouse=True)
def _fast_moto_sqs_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's SQS checks every queued message's visibility on each call, through a clock that
    builds datetimes: quadratic and slow with 500 messages queued (about a minute per batch).
    The same clock read from time.time() makes it ~50 times cheaper; nothing else changes."""
    def unix_time(dt=None):
        return time.time() if dt is None else moto_unix_time(dt)

    def unix_time_millis(dt=None):
        return unix_time(dt) * 1000.0

    monkeypatch.setattr(moto_sqs_models, "unix_time", unix_time)
    monkeypatch.setattr(moto_sqs_models, "unix_time_millis", unix_time_millis)


@pytest.fixture(autouse=True)
def _checkpoints_by_count_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk records its emails every RECORD_EVERY sends, never early because a slow machine let
    RECORD_INTERVAL pass, so the tests know the window a dead run leaves."""
    monkeypatch.setattr(email_chunk, "RECORD_INTERVAL", 3600.0)


def _class_of(db, students: int):
    """A teacher and a class of `students`, inserted in bulk (factories add one row at a time)."""
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, _ = factories.school_class(db, teacher)
    tag = uuid.uuid4().hex[:8]
    rows = [{"institution_id": school.id, "email": f"s{i:04d}-{tag}@example.test", "full_name": f"Student {i:04d}",
             "role": "student", "password_hash": "-", "created_at": utcnow()} for i in range(students)]
    ids = list(db.scalars(sa.insert(User).returning(User.id), rows)) if rows else []
    if ids:
        db.execute(sa.insert(Enrollment),
                   [{"class_id": group.id, "student_id": i, "enrolled_at": utcnow()} for i in ids])
    db.commit()
    return teacher, group, ids


def _publish(web_app, db, teacher, group, title="Lista 1"):
    activity, job = publish_activity(db, group, teacher, title, "Exercícios 1 a 10", utcnow() + timedelta(days=7))
    db.commit()
    flush(db, web_app.extensions["aula"].queue)  # what the endpoint does after commit
    return activity, job


def _drain(sqs, aws, worker_client) -> list[int]:
    statuses: list[int] = []
    while batch := pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=100):
        statuses += batch
    return statuses


def _count(db, *where) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(where[0]).where(*where[1:]))


def _summaries(db, teacher) -> list[Notification]:
    db.expire_all()
    return db.scalars(sa.select(Notification).where(Notification.user_id == teacher.id)).all()


def _assert_everyone_emailed_once(db, sent, activity, student_ids):
    emails = set(db.scalars(sa.select(User.email).where(User.id.in_(student_ids))))
    assert sent.count() == len(student_ids)
    recipients = sent.recipients()
    assert set(recipients) == emails and set(recipients.values()) == {1}
    assert _count(db, Notification, Notification.dedupe_key == f"activity:{activity.id}") == len(student_ids)
    assert _count(db, Effect, Effect.key.like(f"email:activity:{activity.id}:student:%")) == len(student_ids)


def test_publishing_notifies_and_emails_every_student_then_the_teacher_once(web_app, worker_client, db, sqs, aws, sent):
    teacher, group, students = _class_of(db, 30)
    outsider = factories.user(db, teacher.institution, "student")  # not enrolled: nothing for them
    db.commit()
    activity, fanout = _publish(web_app, db, teacher, group)

    statuses = _drain(sqs, aws, worker_client)

    assert statuses == [200] * 3  # the fan-out, one chunk of 30 emails, the summary
    _assert_everyone_emailed_once(db, sent, activity, students)
    notified = set(db.scalars(
        sa.select(Notification.user_id).where(Notification.dedupe_key == f"activity:{activity.id}")))
    assert notified == set(students) and outsider.id not in notified
    [summary] = _summaries(db, teacher)
    assert summary.title == "Activity 'Lista 1': emailed 30 of 30 students"
    assert (summary.kind, summary.activity_id, summary.dedupe_key) == ("activity_summary", activity.id,
                                                                      f"activity-summary:{activity.id}")
    db.expire_all()
    fanout_row = db.get(Job, fanout.id)
    batch = db.scalars(sa.select(Batch).where(Batch.parent_job_id == fanout.id)).one()
    assert fanout_row.state == "succeeded"
    assert fanout_row.result == {"batch_id": str(batch.id), "students": 30, "emailed": 30, "digest": 0, "off": 0,
                                 "notifications": 30}
    assert (batch.total, batch.succeeded, batch.failed) == (30, 30, 0) and batch.completed_at is not None
    followup = db.get(Job, batch.followup_job_id)
    assert followup.state == "succeeded" and followup.result["notified"] is True
    assert followup.payload["summary"] == {"batch_id": str(batch.id), "total": 30, "succeeded": 30, "failed": 0}
    [chunk] = db.scalars(sa.select(Job).where(Job.batch_id == batch.id)).all()
    assert (chunk.type, chunk.state, len(chunk.payload["recipients"])) == ("email_chunk", "succeeded", 30)


def test_a_class_is_emailed_in_chunks_and_the_batch_counts_students(web_app, worker_client, db, sqs, aws, sent):
    teacher, group, students = _class_of(db, 2 * EMAIL_CHUNK_SIZE + 7)
    activity, fanout = _publish(web_app, db, teacher, group)

    assert _drain(sqs, aws, worker_client) == [200] * 5  # the fan-out, 3 chunks, the summary

    _assert_everyone_emailed_once(db, sent, activity, students)
    batch = db.scalars(sa.select(Batch).where(Batch.parent_job_id == fanout.id)).one()
    chunks = db.scalars(sa.select(Job).where(Job.batch_id == batch.id)).all()
    assert sorted(len(c.payload["recipients"]) for c in chunks) == [7, EMAIL_CHUNK_SIZE, EMAIL_CHUNK_SIZE]
    assert sorted(r["to_user_id"] for c in chunks for r in c.payload["recipients"]) == sorted(students)
    assert (batch.total, batch.succeeded, batch.failed) == (len(students), len(students), 0)
    [summary] = _summaries(db, teacher)
    assert summary.title == f"Activity 'Lista 1': emailed {len(students)} of {len(students)} students"


class _Killed(BaseException):
    """SIGKILL as the database sees it: the run stops mid-chunk and nothing uncommitted happens
    (not an Exception, so neither the handler nor the runner catches it)."""


def test_500_students_get_their_emails_once_even_with_a_worker_killed_mid_chunk_and_duplicates(
    web_app, worker_app, worker_client, db, sqs, aws, sent
):
    queue_url = aws["SQS_QUEUE_URL"]
    teacher, group, students = _class_of(db, 500)
    activity, fanout = _publish(web_app, db, teacher, group)
    fanout_body = envelope_for(fanout).to_json()
    assert pump(sqs, queue_url, worker_client, max_rounds=1) == [200]  # the fan-out: 10 chunk messages queued

    # A first worker gets through four chunks...
    delivered = []
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=4)["Messages"]:
        assert deliver(worker_client, message["Body"]).status_code == 200
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        delivered.append(message["Body"])
    assert sent.count() == 4 * EMAIL_CHUNK_SIZE

    # ...then is killed in the middle of the fifth, right after SES accepted an email: claimed,
    # some emails past a checkpoint, the last one's answer not recorded, its message in flight.
    [killed_message] = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1)["Messages"]
    killed_id = uuid.UUID(json.loads(killed_message["Body"])["job_id"])
    mailer = worker_app.extensions["aula"].mailer
    real_ses, dies_at = mailer.ses, RECORD_EVERY + 4
    mailer.ses = _DyingSes(real_ses, dies_at)
    try:
        with pytest.raises(_Killed):
            deliver(worker_client, killed_message["Body"])
    finally:
        mailer.ses = real_ses
    assert sent.count() == 4 * EMAIL_CHUNK_SIZE + dies_at
    assert db.get(Job, killed_id).state == "running"
    # Its lease runs out (time limit + 30 s) before anyone looks again.
    db.execute(sa.update(Job).where(Job.id == killed_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()

    # Duplicates: SQS delivers some messages a second time (at-least-once; or the relay and the
    # fast path both sent one), the fan-out's among them.
    for body in delivered[:3] + [fanout_body]:
        again = deliver(worker_client, body, receive_count=2)
        assert again.status_code == 200 and again.get_json()["outcome"] == "not_claimed"

    reclaimed = fire_task(worker_client, "reclaim-stalled", "/sqsd/tasks/reclaim-stalled").get_json()
    assert (reclaimed["reclaimed"], reclaimed["sent"]) == (1, 1)
    statuses = _drain(sqs, aws, worker_client)
    # The five chunks not yet run, the reclaimed one's new message, then the summary.
    assert statuses.count(200) == len(statuses) == 7

    # The killed worker's own message comes back after its visibility timeout: nothing left to do.
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=killed_message["ReceiptHandle"],
                                  VisibilityTimeout=0)
    assert _drain(sqs, aws, worker_client) == [200]
    db.expire_all()
    killed = db.get(Job, killed_id)
    assert (killed.state, killed.attempts, killed.result["already_sent"]) == ("succeeded", 2, dies_at)

    emails = dict(db.execute(sa.select(User.id, User.email).where(User.id.in_(students))).all())
    recipients = sent.recipients()
    # Each email noted before its send: the retry sends none twice and reports the one whose
    # answer the dead run never recorded as unconfirmed (worker/handlers/email.py).
    assert set(recipients) == set(emails.values()) and sent.count() == 500
    assert set(recipients.values()) == {1}
    killed_recipients = [r["to_user_id"] for r in killed.payload["recipients"]]
    assert killed.result["unconfirmed"] == [killed_recipients[dies_at - 1]]
    assert _count(db, Effect, Effect.key.like(f"email:activity:{activity.id}:student:%")) == 500
    [summary] = _summaries(db, teacher)
    assert summary.title == "Activity 'Lista 1': emailed 500 of 500 students"
    assert _count(db, Job, Job.type == "activity_summary") == 1
    batch = db.scalars(sa.select(Batch)).one()
    assert (batch.total, batch.succeeded, batch.failed) == (500, 500, 0)


class _DyingSes:
    """SES until the `dies_at`-th send, where the worker process dies once SES accepted it."""

    def __init__(self, real, dies_at: int):
        self.real, self.dies_at, self.calls = real, dies_at, 0

    def send_email(self, **kwargs):
        self.calls += 1
        answer = self.real.send_email(**kwargs)
        if self.calls == self.dies_at:
            raise _Killed()
        return answer


class _RejectingSes:
    """SES that refuses some addresses as it would a bounced or suppressed one."""

    def __init__(self, real, refused: set[str]):
        self.real, self.refused = real, refused

    def send_email(self, **kwargs):
        if kwargs["Destination"]["ToAddresses"][0] in self.refused:
            raise ClientError({"Error": {"Code": "MessageRejected", "Message": "Address is on the suppression list"}},
                              "SendEmail")
        return self.real.send_email(**kwargs)


def test_a_batch_with_permanently_failed_emails_still_summarises_once(
    web_app, worker_app, worker_client, db, sqs, aws, sent
):
    teacher, group, students = _class_of(db, 6)
    refused = set(db.scalars(sa.select(User.email).where(User.id.in_(students[:2]))))
    mailer = worker_app.extensions["aula"].mailer
    mailer.ses = _RejectingSes(mailer.ses, refused)
    activity, _ = _publish(web_app, db, teacher, group, title="Prova 2")

    _drain(sqs, aws, worker_client)

    assert sent.count() == 4 and not refused & set(sent.recipients())
    [summary] = _summaries(db, teacher)
    assert summary.title == "Activity 'Prova 2': emailed 4 of 6 students, 2 failed"
    assert "failed emails are listed, with their errors, in the results of this batch's email jobs" in summary.body
    # The chunk itself succeeded, once: a refused address fails its own email, not the others.
    [chunk] = db.scalars(sa.select(Job).where(Job.type == "email_chunk")).all()
    assert (chunk.state, chunk.attempts, chunk.result["sent"], chunk.result["failed"]) == ("succeeded", 1, 4, 2)
    failures = chunk.result["failures"]
    assert {f["to_user_id"] for f in failures} == set(students[:2])
    assert all("(MessageRejected): Address is on the suppression list" in f["error"] for f in failures)
    assert _count(db, Notification, Notification.dedupe_key == f"activity:{activity.id}") == 6  # in-app for all


def test_a_second_fanout_for_the_same_activity_creates_nothing_new(web_app, worker_client, db, sqs, aws, sent,
                                                                   make_job):
    teacher, group, _students = _class_of(db, 3)
    activity, _ = _publish(web_app, db, teacher, group)
    _drain(sqs, aws, worker_client)
    again = make_job("activity_fanout", {"activity_id": activity.id}, owner_id=teacher.id)

    assert deliver(worker_client, envelope_for(again).to_json()).get_json()["outcome"] == "succeeded"
    db.expire_all()
    assert db.get(Job, again.id).result["already_started"] is True
    assert _count(db, Batch) == 1 and _count(db, Job, Job.type == "email_chunk") == 1
    assert sent.count() == 3 and len(_summaries(db, teacher)) == 1
    assert _count(db, Notification, Notification.dedupe_key == f"activity:{activity.id}") == 3


def test_a_summary_job_run_again_notifies_the_teacher_once(web_app, worker_client, db, sqs, aws, make_job):
    teacher, group, _ = _class_of(db, 2)
    activity, _ = _publish(web_app, db, teacher, group)
    _drain(sqs, aws, worker_client)
    summary = {"batch_id": str(uuid.uuid4()), "total": 2, "succeeded": 2, "failed": 0}
    copy = make_job("activity_summary", {"activity_id": activity.id, "teacher_id": teacher.id, "summary": summary},
                    owner_id=teacher.id)
    assert deliver(worker_client, envelope_for(copy).to_json()).get_json()["outcome"] == "succeeded"
    db.expire_all()
    assert db.get(Job, copy.id).result["notified"] is False and len(_summaries(db, teacher)) == 1


def test_an_empty_class_still_gets_its_summary(web_app, worker_client, db, sqs, aws, sent):
    teacher, group, _ = _class_of(db, 0)
    _publish(web_app, db, teacher, group, title="Sem alunos")
    assert _drain(sqs, aws, worker_client) == [200, 200]
    [summary] = _summaries(db, teacher)
    assert summary.title == "Activity 'Sem alunos': emailed 0 of 0 students" and sent.count() == 0


def test_a_fanout_for_a_deleted_activity_fails_with_a_readable_error(web_app, worker_client, db, sqs, aws):
    teacher, group, _ = _class_of(db, 2)
    activity, fanout = _publish(web_app, db, teacher, group)
    db.execute(sa.delete(Activity).where(Activity.id == activity.id))
    db.commit()
    _drain(sqs, aws, worker_client)
    db.expire_all()
    row = db.get(Job, fanout.id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.error == f"activity {activity.id} no longer exists"
    assert _count(db, Job, Job.type == "email_chunk") == 0


def test_students_who_chose_the_digest_or_no_email_are_notified_in_the_app_only(web_app, worker_client, db, sqs,
                                                                                  aws, sent):
    """The fan-out emails only those whose preference for activity_published is "email now"."""
    teacher, group, students = _class_of(db, 4)
    db.add_all([NotificationPreference(user_id=students[0], kind="activity_published", channel="digest"),
                NotificationPreference(user_id=students[1], kind="activity_published", channel="off")])
    db.commit()
    activity, _fanout = _publish(web_app, db, teacher, group)
    _drain(sqs, aws, worker_client)
    emailed = set(db.scalars(sa.select(User.email).where(User.id.in_(students[2:]))))
    assert set(sent.recipients()) == emailed and sent.count() == 2
    notified = set(db.scalars(
        sa.select(Notification.user_id).where(Notification.dedupe_key == f"activity:{activity.id}")))
    assert notified == set(students)
    [summary] = _summaries(db, teacher)
    # Honest about the two who asked for no email now (it said "emailed 2 of 2").
    assert summary.title == "Activity 'Lista 1': emailed 2 of 4 students; 1 chose the daily digest, 1 chose no email"


def test_a_class_where_nobody_wants_email_is_summarised_as_such(web_app, worker_client, db, sqs, aws, sent):
    """Two students, both with no email for new activities: nothing is sent, and the summary says
    why instead of "emailed 0 of 0" (or "2 of 2")."""
    teacher, group, students = _class_of(db, 2)
    db.add_all([NotificationPreference(user_id=student, kind="activity_published", channel="off")
                for student in students])
    db.commit()
    _publish(web_app, db, teacher, group)
    _drain(sqs, aws, worker_client)
    assert sent.count() == 0
    [summary] = _summaries(db, teacher)
    assert summary.title == "Activity 'Lista 1': emailed 0 of 2 students; 2 chose no email"


def test_the_due_date_in_each_email_is_in_the_recipients_time_zone(web_app, worker_client, db, sqs, aws, sent):
    """Each student reads the due date in their own zone, the zone named; one without a zone, UTC."""
    teacher, group, students = _class_of(db, 2)
    db.execute(sa.update(User).where(User.id == students[0]).values(time_zone="America/Bogota"))
    db.commit()
    due = datetime(2030, 1, 15, 3, 30, tzinfo=UTC)
    publish_activity(db, group, teacher, "Lista tz", "", due)
    db.commit()
    flush(db, web_app.extensions["aula"].queue)
    _drain(sqs, aws, worker_client)
    bodies = {m.destinations["ToAddresses"][0]: m.body for m in sent.messages}
    bogota, plain = (db.get(User, s).email for s in students)
    assert "Due: 2030-01-14 22:30 America/Bogota (-05)" in bodies[bogota]
    assert "Due: 2030-01-15 03:30 UTC" in bodies[plain]
    assert "03:30 UTC" not in bodies[bogota]
