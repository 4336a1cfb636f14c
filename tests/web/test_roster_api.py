"""POST /api/classes/<id>/roster-imports: who may import (the class's teacher, an admin of its
institution; others 404 or 403), the file's limits (413, 422 naming the field), multipart or
JSON, the dry_run flag, and what is stored and queued."""
from __future__ import annotations

import io
import json
import uuid

import pytest
import sqlalchemy as sa

from core.models import Job
from tests import factories
from tests.sqsd import pump

CSV = "name,email\nAna,ana@example.test\n"


@pytest.fixture
def course(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, (student,) = factories.school_class(db, teacher, students=1)
    other_teacher = factories.user(db, school, "teacher")
    admin = factories.user(db, school, "admin")
    outsider = factories.user(db, factories.institution(db), "admin")
    db.commit()
    return {"teacher": teacher, "class": group, "student": student, "other_teacher": other_teacher,
            "admin": admin, "outsider": outsider}


def _post(client, person, group, **kwargs):
    return client.post(f"/api/classes/{group.id}/roster-imports", headers=factories.login(client, person), **kwargs)


def test_the_teacher_imports_and_the_file_is_stored_for_the_job(client, db, web_app, course):
    response = _post(client, course["teacher"], course["class"], json={"csv": CSV})
    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == f"/api/jobs/{body['job']['id']}" and body["job"]["type"] == "roster_import"
    job = db.get(Job, uuid.UUID(body["job"]["id"]))
    assert job.payload["class_id"] == course["class"].id and job.payload["dry_run"] is False
    stored = web_app.extensions["aula"].storage.get(job.payload["key"])
    assert stored == CSV.encode()


def test_an_admin_of_the_institution_imports_by_multipart_as_a_dry_run(client, db, course):
    data = {"file": (io.BytesIO(CSV.encode("utf-8-sig")), "alunos.csv"), "dry_run": "true"}
    response = _post(client, course["admin"], course["class"], data=data, content_type="multipart/form-data")
    assert response.status_code == 202
    assert db.get(Job, uuid.UUID(response.get_json()["job"]["id"])).payload["dry_run"] is True


@pytest.mark.parametrize(("who", "status"), [("other_teacher", 404), ("outsider", 404), ("student", 403)])
def test_others_may_not_import(client, db, course, who, status):
    response = _post(client, course[who], course["class"], json={"csv": CSV})
    assert response.status_code == status
    assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.type == "roster_import")) == 0


def test_a_missing_class_is_404(client, course):
    response = client.post("/api/classes/999999/roster-imports", json={"csv": CSV},
                           headers=factories.login(client, course["teacher"]))
    assert response.status_code == 404


@pytest.mark.parametrize(("body", "status", "field", "message"), [
    ({"csv": 12}, 400, "csv", "csv must be"),
    ({"csv": CSV, "dry_run": "maybe"}, 400, "dry_run", "dry_run must be"),
    ({"csv": CSV, "dry_run": None}, 400, "dry_run", "dry_run must be"),
    ({"csv": ""}, 400, "csv", "csv must be"),
    ({"csv": CSV, "class": 1}, 400, "class", "unknown field"),
    ({"csv": "name,email\n" + "A,a@example.test\n" * 60_000}, 413, None, None),
    # Over the field's maxLength, inside the request's limit (1 MiB): 422 naming the field.
    ({"csv": "name,email\n" + ("N" * 100 + ",a@example.test\n") * 8_625}, 422, "csv", "longer than 1000000"),
])
def test_bad_input_names_the_field(client, course, body, status, field, message):
    response = _post(client, course["teacher"], course["class"], json=body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()
    if field:
        assert error["field"] == field and message in error["error"]


def test_an_unreadable_file_fails_its_job_with_the_reason(client, db, worker_client, sqs, aws, web_app, course,
                                                           monkeypatch):
    monkeypatch.setattr(web_app.extensions["aula"].queue, "sender", None)
    auth = factories.login(client, course["teacher"])
    latin = {"file": (io.BytesIO("name,email\nJosé,j@example.test\n".encode("latin-1")), "a.csv")}
    bad = client.post(f"/api/classes/{course['class'].id}/roster-imports", data=latin,
                      content_type="multipart/form-data", headers=auth).get_json()["job"]["id"]
    header = client.post(f"/api/classes/{course['class'].id}/roster-imports",
                         json={"csv": "nome,correio\nAna,a@example.test\n"}, headers=auth).get_json()["job"]["id"]
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    errors = {job_id: client.get(f"/api/jobs/{job_id}", headers=auth).get_json()["job"] for job_id in (bad, header)}
    assert errors[bad]["state"] == "failed" and "not UTF-8" in errors[bad]["error"]
    assert errors[header]["state"] == "failed" and "missing: name, email" in errors[header]["error"]


def test_a_text_within_the_characters_but_over_the_bytes_is_413(client, course):
    text = "name,email\n" + ("\u00e3" * 100 + ",a@example.test\n") * 4_700  # 545,000 characters, 1,015,211 bytes
    body = json.dumps({"csv": text}, ensure_ascii=False).encode()
    response = _post(client, course["teacher"], course["class"], data=body, content_type="application/json")
    assert response.status_code == 413 and response.get_json()["field"] == "csv"


def test_a_multipart_file_over_the_limit_is_413(client, course):
    # Encoded here: werkzeug's test client would spool a body this large to a file it leaves open.
    csv_bytes = b"name,email\n" + (b"N" * 100 + b",a@example.test\n") * 8_625
    body = (b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\n" + csv_bytes + b"\r\n--b0undary--\r\n")
    response = _post(client, course["teacher"], course["class"], data=body,
                     content_type="multipart/form-data; boundary=b0undary")
    assert response.status_code == 413 and response.get_json()["field"] == "file"


def test_a_multipart_request_without_a_file_is_refused(client, course):
    none = _post(client, course["teacher"], course["class"], data={"dry_run": "1"}, content_type="multipart/form-data")
    assert none.status_code == 400 and none.get_json()["field"] == "file"
