"""A teacher publishes an activity: 202 at once; the fan-out notifies and emails every student
and then tells the teacher how it went."""
from __future__ import annotations

import sqlalchemy as sa

from core.models import Activity, Effect, Job, Notification
from tests import factories
from tests.sqsd import pump


def test_publishing_answers_at_once_and_the_fan_out_reaches_every_student(client, worker_client, db, sqs, aws):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, students = factories.school_class(db, teacher, students=6)
    db.commit()
    headers = factories.login(client, teacher)
    response = client.post(f"/api/classes/{group.id}/activities", headers=headers,
                           json={"title": "Ensayo 1", "description": "Dos páginas", "due_at": "2030-12-01T23:59:00Z"})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["activity"]["due_at"] == "2030-12-01T23:59:00Z" and body["students"] == 6
    assert response.headers["Location"] == f"/api/jobs/{body['job']['id']}"
    assert body["job"]["type"] == "activity_fanout"

    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=20)
    notes = db.scalars(sa.select(Notification)).all()
    assert sorted(n.user_id for n in notes if n.kind != "activity_summary") == sorted(s.id for s in students)
    summaries = [n for n in notes if n.user_id == teacher.id]
    assert len(summaries) == 1 and "6 of 6" in summaries[0].body + summaries[0].title
    # One email per student, whatever the chunking: one effect each, and every chunk job succeeded.
    assert db.scalar(sa.select(sa.func.count()).select_from(Effect)) == 6
    assert not db.scalars(sa.select(Job.state).where(Job.type.like("email%"), Job.state != "succeeded")).all()


def test_only_the_teacher_of_the_class_publishes_and_bad_input_is_400(client, db):
    school = factories.institution(db)
    teacher, colleague = factories.user(db, school, "teacher"), factories.user(db, school, "teacher")
    group, _ = factories.school_class(db, teacher, students=1)
    stranger = factories.user(db, factories.institution(db), "teacher")
    db.commit()
    url = f"/api/classes/{group.id}/activities"
    ok = {"title": "T", "due_at": "2026-12-01T10:00:00+01:00"}
    admin = factories.user(db, school, "admin")
    db.commit()
    # Not visible to them: "not found". Visible but not theirs to publish in: 403.
    assert client.post(url, json=ok, headers=factories.login(client, colleague)).status_code == 404
    assert client.post(url, json=ok, headers=factories.login(client, stranger)).status_code == 404
    assert client.post(url, json=ok, headers=factories.login(client, admin)).status_code == 403
    headers = factories.login(client, teacher)
    for body, field in (({"title": ""}, "title"), ({"due_at": "tomorrow", "title": "T"}, "due_at"),
                        ({"title": "T", "due_at": "2026-12-01T10:00:00"}, "due_at"), ({}, "title")):
        response = client.post(url, json=body, headers=headers)
        assert (response.status_code, response.get_json()["field"]) == (400, field), body
    assert db.scalar(sa.select(sa.func.count(Activity.id))) == 0
