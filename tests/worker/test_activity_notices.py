"""`activity_notice`: the emails of "changed" and "withdrawn" notices (issue 13, item 9), routed
by each student's `activity_changed` channel like every other kind: email now, the digest (the
inbox row it reads), or off. Once per student and notice, however often the teacher edits or a
job is delivered; a "changed" email is not sent once the activity is withdrawn."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import envelope_for
from core.models import Batch, Job, NotificationPreference
from tests import factories
from tests.sqsd import deliver, pump
from tests.support.ses import SentMail


def _drain(sqs, aws, worker_client) -> list[int]:
    statuses: list[int] = []
    while batch := pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=100):
        statuses += batch
    return statuses


def _course(db, client):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, (now_, digest, off) = factories.school_class(db, teacher, students=3)
    now_.time_zone = "Europe/Madrid"
    db.add_all([NotificationPreference(user_id=digest.id, kind="activity_changed", channel="digest"),
                NotificationPreference(user_id=off.id, kind="activity_changed", channel="off"),
                # Another kind's choice is not this one's.
                NotificationPreference(user_id=now_.id, kind="activity_published", channel="off")])
    db.commit()
    headers = factories.login(client, teacher)
    created = client.post(f"/api/classes/{group.id}/activities", headers=headers, json={
        "title": "Ensayo", "due_at": datetime(2031, 3, 1, 22, 0, tzinfo=UTC).isoformat()})
    assert created.status_code == 202, created.get_json()
    return teacher, group, (now_, digest, off), headers, created.get_json()["activity"]["id"]


def test_a_change_and_a_withdrawal_are_emailed_once_to_those_who_chose_email(client, db, sqs, aws, worker_client):
    teacher, group, (now_, _digest, _off), headers, activity_id = _course(db, client)
    _drain(sqs, aws, worker_client)  # the publication's own fan-out (now_ chose no email for it)
    sent = SentMail()
    url = f"/api/activities/{activity_id}"
    assert client.patch(url, headers=headers, json={"title": "Ensayo v2"}).get_json()["notified"] == 3
    assert client.patch(url, headers=headers, json={"title": "Ensayo v3"}).get_json()["notified"] == 0
    _drain(sqs, aws, worker_client)
    assert sent.recipients() == {now_.email: 1}
    [changed] = sent.messages
    assert "Changed in" in changed.subject and f"/activities/{activity_id}" in changed.body
    assert "2031-03-01 23:00 Europe/Madrid (CET)" in changed.body and "/unsubscribe/" in changed.body

    assert client.post(f"{url}/unpublish", headers=headers).get_json()["notified"] == 3
    assert client.post(f"{url}/unpublish", headers=headers).get_json()["notified"] == 0
    _drain(sqs, aws, worker_client)
    assert sent.recipients() == {now_.email: 2}
    withdrawn = sent.messages[1]
    assert "Withdrawn in" in withdrawn.subject and f"/student/classes/{group.id}" in withdrawn.body
    assert f"/activities/{activity_id}" not in withdrawn.body.replace(f"/student/classes/{group.id}", "")
    db.expire_all()
    notices = db.scalars(sa.select(Job).where(Job.type == "activity_notice", Job.parent_id.is_(None))).all()
    assert sorted(j.payload["notice"] for j in notices) == ["changed", "unpublished"]
    assert {j.state for j in notices} == {"succeeded"} and {j.owner_id for j in notices} == {teacher.id}
    [fanout] = [j for j in notices if j.payload["notice"] == "changed"]
    assert (fanout.result["emailed"], fanout.result["digest"], fanout.result["off"]) == (1, 1, 1)

    # The same fan-out delivered again (a manual re-run, a duplicate): the batch exists, nothing new.
    assert deliver(worker_client, envelope_for(fanout).to_json()).status_code == 200
    _drain(sqs, aws, worker_client)
    assert sent.count() == 2
    assert db.scalar(sa.select(sa.func.count()).select_from(Batch).where(
        Batch.key == f"activity:{activity_id}:changed-emails")) == 1


def test_a_change_withdrawn_before_its_emails_went_out_sends_only_the_withdrawal(client, db, sqs, aws, worker_client):
    _teacher, _group, (now_, _d, _o), headers, activity_id = _course(db, client)
    _drain(sqs, aws, worker_client)
    sent = SentMail()
    url = f"/api/activities/{activity_id}"
    client.patch(url, headers=headers, json={"due_at": (utcnow() + timedelta(days=9)).isoformat()})
    client.post(f"{url}/unpublish", headers=headers)
    _drain(sqs, aws, worker_client)
    assert sent.recipients() == {now_.email: 1} and "Withdrawn in" in sent.messages[0].subject
