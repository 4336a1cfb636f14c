"""Reminders 24 hours before a due date (issue 13, item 5): the periodic task starts one batch per
activity due soon; each chunk reminds the students who have not submitted when it runs, in the
app and by email per their preferences; exactly once per student and activity however often the
task runs or a chunk is delivered."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import Activity, Batch, Effect, Job, Notification, NotificationPreference, Submission
from tests import factories
from tests.sqsd import deliver, fire_task, pump
from tests.support.ses import SentMail
from worker.handlers import reminders


@pytest.fixture
def sent(aws) -> SentMail:
    return SentMail()


def _activity(db, group, due_in: timedelta, status="published", title="Lista 1"):
    now = utcnow()
    activity = Activity(class_id=group.id, title=title, description="", due_at=now + due_in, published_at=now,
                        status=status)
    db.add(activity)
    db.commit()
    return activity


def _run_task(worker_client):
    response = fire_task(worker_client, "reminders", "/sqsd/tasks/reminders")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def _reminded(db, activity):
    db.expire_all()
    return set(db.scalars(sa.select(Notification.user_id).where(
        Notification.dedupe_key == f"reminder:activity:{activity.id}")))


def test_students_who_have_not_submitted_are_reminded_once(db, worker_client, sqs, aws, sent):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, (a, b, c, d) = factories.school_class(db, teacher, students=4)
    soon = _activity(db, group, timedelta(hours=20))
    later = _activity(db, group, timedelta(hours=30), title="Later")  # beyond 24 h: not yet
    past = _activity(db, group, timedelta(hours=-1), title="Past")
    db.add(Submission(activity_id=soon.id, student_id=a.id, body="done"))
    db.add_all([NotificationPreference(user_id=c.id, kind="reminder", channel="off"),
                NotificationPreference(user_id=d.id, kind="reminder", channel="digest")])
    db.commit()

    _run_task(worker_client)
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]

    assert _reminded(db, soon) == {b.id, c.id, d.id}  # in-app for everyone who has not submitted
    assert _reminded(db, later) == set() and _reminded(db, past) == set()
    assert sent.recipients() == {b.email: 1}  # email only for the channel "email"
    [message] = sent.messages
    assert f"/activities/{soon.id}" in message.body and "/unsubscribe/" in message.body
    [note] = db.scalars(sa.select(Notification).where(Notification.user_id == b.id)).all()
    assert note.kind == "reminder" and note.link == f"/activities/{soon.id}" and note.activity_id == soon.id

    # The task again (the next tick, or an overlapping run): no second batch, nothing new.
    _run_task(worker_client)
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == []
    assert db.scalar(sa.select(sa.func.count()).select_from(Batch).where(
        Batch.key == f"reminder:activity:{soon.id}")) == 1
    assert sent.count() == 1


def test_a_redelivered_chunk_reminds_nobody_twice(db, worker_client, sqs, aws, sent):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, students = factories.school_class(db, teacher, students=3)
    activity = _activity(db, group, timedelta(hours=2))
    _run_task(worker_client)
    messages = sqs.receive_message(QueueUrl=aws["SQS_QUEUE_URL"], MaxNumberOfMessages=10).get("Messages", [])
    [message] = messages
    assert deliver(worker_client, message["Body"], message["MessageId"]).status_code == 200
    assert deliver(worker_client, message["Body"], message["MessageId"], receive_count=2).status_code == 200
    # A second job for the same students (a repeated batch) is stopped by the keys too.
    db.expire_all()
    [job] = db.scalars(sa.select(Job).where(Job.type == "reminder_chunk")).all()
    from core.jobs.outbox import envelope_for, new_job

    copy = new_job(db, "reminder_chunk", job.payload, owner_id=None)
    db.commit()
    assert deliver(worker_client, envelope_for(copy).to_json()).status_code == 200
    assert _reminded(db, activity) == {s.id for s in students}
    assert sent.count() == 3 and set(sent.recipients().values()) == {1}
    assert db.scalar(sa.select(sa.func.count()).select_from(Effect).where(
        Effect.key.like(f"email:reminder:activity:{activity.id}:%"))) == 3
    db.expire_all()
    assert db.get(Job, copy.id).result["already_sent"] == 3


def test_a_student_who_submits_before_the_chunk_runs_gets_nothing(db, worker_client, sqs, aws, sent):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, (a, b) = factories.school_class(db, teacher, students=2)
    activity = _activity(db, group, timedelta(hours=5))
    _run_task(worker_client)  # the batch lists both
    db.add(Submission(activity_id=activity.id, student_id=a.id, body="just in time"))
    db.commit()
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    assert _reminded(db, activity) == {b.id}
    assert sent.recipients() == {b.email: 1}


def test_an_unpublished_activity_reminds_nobody(db, worker_client, sqs, aws, sent):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, _ = factories.school_class(db, teacher, students=2)
    activity = _activity(db, group, timedelta(hours=5))
    _run_task(worker_client)
    activity = db.get(Activity, activity.id)
    activity.status = "unpublished"
    db.commit()
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    assert _reminded(db, activity) == set() and sent.count() == 0


def test_a_large_class_is_reminded_in_chunks(db, worker_client, sqs, aws, sent, monkeypatch):
    monkeypatch.setattr(reminders, "NOTIFY_CHUNK_SIZE", 2)
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, students = factories.school_class(db, teacher, students=5)
    activity = _activity(db, group, timedelta(hours=5))
    _run_task(worker_client)
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200] * 3
    batch = db.scalars(sa.select(Batch).where(Batch.key == f"reminder:activity:{activity.id}")).one()
    db.refresh(batch)
    assert (batch.total, batch.succeeded, batch.failed) == (5, 5, 0) and batch.completed_at is not None
    assert _reminded(db, activity) == {s.id for s in students} and sent.count() == 5


def test_the_reminder_names_the_due_time_in_the_students_zone(db, worker_client, sqs, aws, sent):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, (student,) = factories.school_class(db, teacher, students=1)
    student.time_zone = "Asia/Tokyo"
    activity = _activity(db, group, timedelta(hours=5))
    _run_task(worker_client)
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    local = activity.due_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    [message] = sent.messages
    assert f"{local} Asia/Tokyo (JST)" in message.body and " UTC" not in message.body
    note = db.scalar(sa.select(Notification).where(Notification.user_id == student.id))
    assert note.body.startswith(f"Due {local} Asia/Tokyo (JST).")
