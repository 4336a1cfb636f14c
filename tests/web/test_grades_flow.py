"""A grade reaches the student (issue 13, item 3): the teacher's PUT enqueues one grade_posted
job; the worker writes one in-app notification linked to the activity's page and emails the
student per their preferences (the email links to the activity and carries its unsubscribe link);
the same score again notifies nobody, a changed score once more."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import Activity, Effect, Job, Notification, NotificationPreference
from tests import factories
from tests.sqsd import pump
from tests.support.ses import SentMail


@pytest.fixture
def sent(aws) -> SentMail:
    return SentMail()


@pytest.fixture
def graded(db):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, (ana, bia) = factories.school_class(db, teacher, students=2)
    now = utcnow()
    activity = Activity(class_id=group.id, title="Lista 1", description="", due_at=now + timedelta(days=1),
                        published_at=now, status="published")
    db.add(activity)
    db.commit()
    return teacher, activity, ana, bia


def _notes(db, user):
    db.expire_all()
    return db.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                      .order_by(Notification.id)).all()


def _drain(sqs, aws, worker_client):
    return pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=20)


@pytest.fixture(autouse=True)
def _send_inline(web_app, monkeypatch):
    """The web tier hands messages to a background sender; here they are sent before the
    request returns, so the test knows they are queued."""
    monkeypatch.setattr(web_app.extensions["aula"].queue, "sender", None)


def test_the_student_is_notified_and_emailed_with_a_link_once_per_change(web_app, client, db, worker_client, sqs,
                                                                         aws, sent, graded):
    teacher, activity, ana, _ = graded
    auth = factories.login(client, teacher)
    url = f"/api/activities/{activity.id}/grades/{ana.id}"
    assert client.put(url, json={"score": 9.5, "feedback": "Muito bem"}, headers=auth).status_code == 200
    assert _drain(sqs, aws, worker_client) == [200]

    [note] = _notes(db, ana)
    assert note.kind == "grade_posted" and note.link == f"/activities/{activity.id}" and "9.5/100" in note.title
    assert note.body == "Muito bem"
    [message] = sent.messages
    assert message.destinations["ToAddresses"] == [ana.email]
    assert f"http://127.0.0.1:8000/activities/{activity.id}" in message.body  # PUBLIC_BASE_URL + the path
    assert "/unsubscribe/" in message.body

    # The student sees it in their own grades.
    mine = client.get(f"/api/classes/{activity.class_id}/my-grades", headers=factories.login(client, ana)).get_json()
    assert mine["items"][0]["grade"]["score"] == 9.5 and mine["items"][0]["grade"]["feedback"] == "Muito bem"


def test_same_score_again_notifies_nobody_a_new_score_once_more(web_app, client, db, worker_client, sqs, aws, sent,
                                                                graded):
    teacher, activity, ana, _ = graded
    auth = factories.login(client, teacher)
    url = f"/api/activities/{activity.id}/grades/{ana.id}"
    client.put(url, json={"score": 7}, headers=auth)
    client.put(url, json={"score": 7, "feedback": "revisto"}, headers=auth)
    _drain(sqs, aws, worker_client)
    assert len(_notes(db, ana)) == 1 and sent.count() == 1
    client.put(url, json={"score": 8}, headers=auth)
    _drain(sqs, aws, worker_client)
    assert [n.title.rsplit(": ", 1)[1] for n in _notes(db, ana)] == ["7/100", "8/100"] and sent.count() == 2


def test_a_superseded_change_and_a_redelivery_notify_nothing_extra(web_app, client, db, worker_client, sqs, aws,
                                                                   sent, graded):
    teacher, activity, ana, _ = graded
    auth = factories.login(client, teacher)
    url = f"/api/activities/{activity.id}/grades/{ana.id}"
    client.put(url, json={"score": 4}, headers=auth)
    client.put(url, json={"score": 6}, headers=auth)  # before the worker ran the first job
    _drain(sqs, aws, worker_client)
    [note] = _notes(db, ana)
    assert note.title.endswith("6/100") and sent.count() == 1
    db.expire_all()
    results = sorted(str(j.result) for j in db.scalars(sa.select(Job).where(Job.type == "grade_posted")))
    assert any("later change" in r for r in results)

    # The same job run again (a copy of its message): the notification and email keys hold.
    from core.jobs.outbox import envelope_for, new_job
    from tests.sqsd import deliver

    latest = db.scalars(sa.select(Job).where(Job.type == "grade_posted").order_by(Job.created_at.desc())).first()
    copy = new_job(db, "grade_posted", latest.payload, owner_id=teacher.id)
    db.commit()
    assert deliver(worker_client, envelope_for(copy).to_json()).status_code == 200
    assert len(_notes(db, ana)) == 1 and sent.count() == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(Effect).where(
        Effect.key.like(f"email:grade:{activity.id}:{ana.id}:%"))) == 1


@pytest.mark.parametrize("channel", ["off", "digest"])
def test_a_student_who_chose_otherwise_gets_the_notification_without_an_email(
        web_app, client, db, worker_client, sqs, aws, sent, graded, channel):
    teacher, activity, _, bia = graded
    db.add(NotificationPreference(user_id=bia.id, kind="grade_posted", channel=channel))
    db.commit()
    assert client.put(f"/api/activities/{activity.id}/grades/{bia.id}", json={"score": 5},
                      headers=factories.login(client, teacher)).status_code == 200
    assert _drain(sqs, aws, worker_client) == [200]
    assert len(_notes(db, bia)) == 1 and sent.count() == 0
