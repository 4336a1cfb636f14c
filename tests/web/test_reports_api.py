"""POST /api/reports: who may ask, what they get back, and that the job reaches the queue."""
from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from core.models import Enrollment, Job
from tests import factories


@pytest.fixture
def teacher_class(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, _ = factories.school_class(db, teacher, students=3)
    db.commit()
    return school, teacher, group


def test_teacher_gets_202_with_location_and_the_message_is_sent(client, db, teacher_class, sqs, aws):
    _, teacher, group = teacher_class
    response = client.post(
        "/api/reports",
        json={"kind": "class_roster", "class_id": group.id, "format": "csv"},
        headers=factories.login(client, teacher),
    )
    assert response.status_code == 202
    job = response.get_json()["job"]
    assert response.headers["Location"] == f"/api/jobs/{job['id']}"
    assert set(job) == {"id", "type", "state", "progress", "attempts", "created_at", "started_at",
                        "finished_at", "error", "result"}
    assert (job["type"], job["state"], job["progress"], job["attempts"]) == ("report", "queued", 0, 0)

    row = db.get(Job, uuid.UUID(job["id"]))
    assert row.owner_id == teacher.id and row.published_at is not None
    messages = sqs.receive_message(QueueUrl=aws["SQS_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [
        {"v": 1, "job_id": job["id"], "type": "report", "trace_id": row.trace_id}
    ]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "grades", "class_id": 1, "format": "csv"}, "kind"),
        ({"kind": "class_roster", "class_id": "1", "format": "csv"}, "class_id"),
        ({"kind": "class_roster", "class_id": True, "format": "csv"}, "class_id"),
        ({"kind": "class_roster", "class_id": 1, "format": "pdf"}, "format"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_creates_nothing(client, db, teacher_class, body, field):
    _, teacher, _ = teacher_class
    response = client.post("/api/reports", json=body, headers=factories.login(client, teacher))
    assert response.status_code == 400
    assert response.get_json()["field"] == field
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 0


def test_non_json_body_is_400(client, teacher_class):
    _, teacher, _ = teacher_class
    response = client.post("/api/reports", data="kind=class_roster", headers=factories.login(client, teacher))
    assert response.status_code == 400 and "error" in response.get_json()


def test_unknown_class_is_404(client, teacher_class):
    _, teacher, _ = teacher_class
    response = client.post(
        "/api/reports", json={"kind": "class_roster", "class_id": 999999, "format": "csv"},
        headers=factories.login(client, teacher),
    )
    assert response.status_code == 404


def test_a_class_you_see_but_do_not_teach_is_403_and_one_you_cannot_see_404(client, db, teacher_class):
    school, _, group = teacher_class
    other, outsider = factories.user(db, school, "teacher"), factories.user(db, school, "student")
    admin, enrolled = factories.user(db, school, "admin"), factories.user(db, school, "student")
    db.add(Enrollment(class_id=group.id, student_id=enrolled.id))
    db.commit()
    for person, status in ((other, 404), (outsider, 404), (admin, 403), (enrolled, 403)):
        response = client.post(
            "/api/reports", json={"kind": "class_roster", "class_id": group.id, "format": "csv"},
            headers=factories.login(client, person),
        )
        assert response.status_code == status, person.role
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 0


def test_a_class_of_another_institution_is_404(client, db, teacher_class):
    _, _, group = teacher_class
    stranger = factories.user(db, factories.institution(db), "teacher")
    db.commit()
    response = client.post(
        "/api/reports", json={"kind": "class_roster", "class_id": group.id, "format": "csv"},
        headers=factories.login(client, stranger),
    )
    assert response.status_code == 404


def test_without_a_token_it_is_401(client):
    response = client.post("/api/reports", json={"kind": "class_roster", "class_id": 1, "format": "csv"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
