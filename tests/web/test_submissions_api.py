"""Submissions through the API: upload forms (the presigned POST's policy), recording and
resubmitting, the due date and late work, who may see what, the teacher's list, one file's
download and the ZIP request."""
from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import Activity, Job, Submission, SubmissionFile
from core.submissions import upload_key
from tests import factories


@pytest.fixture
def course(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, students = factories.school_class(db, teacher, students=3)
    now = utcnow()
    activity = Activity(class_id=group.id, title="Lista 1", published_at=now, status="published",
                        due_at=now + timedelta(days=3))
    db.add(activity)
    db.commit()
    return {"school": school, "teacher": teacher, "class": group, "students": students, "activity": activity}


def _policy(form: dict) -> dict:
    return json.loads(base64.b64decode(form["fields"]["policy"]))


def test_an_upload_form_limits_key_type_and_size(client, course, web_app):
    student, activity = course["students"][0], course["activity"]
    response = client.post(f"/api/activities/{activity.id}/uploads", json={"filename": "Relatório final.PDF"},
                           headers=factories.login(client, student))
    assert response.status_code == 201, response.get_json()
    form = response.get_json()["upload"]
    assert form["filename"] == "Relatorio-final.pdf" and form["content_type"] == "application/pdf"
    prefix = f"submissions/{activity.id}/{student.id}/"
    assert form["key"].startswith(prefix) and form["key"].endswith("/Relatorio-final.pdf")
    assert form["fields"]["key"] == form["key"] and form["fields"]["Content-Type"] == "application/pdf"
    conditions = _policy(form)["conditions"]
    max_bytes = web_app.extensions["aula"].settings.submission_max_bytes
    assert form["max_bytes"] == max_bytes
    assert ["content-length-range", 1, max_bytes] in conditions
    assert {"Content-Type": "application/pdf"} in conditions
    assert {"key": form["key"]} in conditions


def test_a_type_not_allowed_gets_no_form(client, course):
    student, activity = course["students"][0], course["activity"]
    auth = factories.login(client, student)
    for name in ("virus.exe", "page.html", "noextension", "script.pdf.sh"):
        response = client.post(f"/api/activities/{activity.id}/uploads", json={"filename": name}, headers=auth)
        assert response.status_code == 422 and response.get_json()["field"] == "filename", name


def test_only_enrolled_students_get_forms(client, db, course):
    activity = course["activity"]
    other_school_student = factories.user(db, factories.institution(db), "student")
    outsider = factories.user(db, course["school"], "student")
    db.commit()
    url = f"/api/activities/{activity.id}/uploads"
    for person in (other_school_student, outsider):
        assert client.post(url, json={"filename": "a.pdf"}, headers=factories.login(client, person)).status_code == 404
    teacher = client.post(url, json={"filename": "a.pdf"}, headers=factories.login(client, course["teacher"]))
    assert teacher.status_code == 403


def _submit(client, auth, activity_id, **body):
    return client.put(f"/api/activities/{activity_id}/submission", json=body, headers=auth)


def test_a_submission_records_pending_files_and_enqueues_a_check(client, db, course):
    student, activity = course["students"][0], course["activity"]
    auth = factories.login(client, student)
    keys = [upload_key(activity.id, student.id, name) for name in ("a.pdf", "notes.txt")]
    response = _submit(client, auth, activity.id, body="Minha resposta", files=keys)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["submission"]["state"] == "submitted" and data["submission"]["body"] == "Minha resposta"
    assert [f["filename"] for f in data["submission"]["files"]] == ["a.pdf", "notes.txt"]
    assert {f["state"] for f in data["submission"]["files"]} == {"pending"}
    assert data["submission"]["checked"] is False
    job = db.get(Job, uuid.UUID(data["job"]["id"]))
    assert job.type == "submission_check" and job.owner_id == student.id
    assert job.payload == {"submission_id": data["submission"]["id"], "release": []}
    shown = client.get(f"/api/activities/{activity.id}/submission", headers=auth).get_json()["submission"]
    assert shown["id"] == data["submission"]["id"] and len(shown["files"]) == 2


def test_a_resubmission_replaces_files_and_checks_only_new_ones(client, db, course):
    student, activity = course["students"][0], course["activity"]
    auth = factories.login(client, student)
    a, b, c = (upload_key(activity.id, student.id, n) for n in ("a.pdf", "b.png", "c.txt"))
    first = _submit(client, auth, activity.id, files=[a, b]).get_json()
    db.execute(sa.update(SubmissionFile).where(SubmissionFile.key == a).values(state="verified", size=5))
    db.commit()
    second = _submit(client, auth, activity.id, body="v2", files=[a, c]).get_json()
    assert second["submission"]["id"] == first["submission"]["id"]
    assert {f["filename"]: f["state"] for f in second["submission"]["files"]} == {"a.pdf": "verified",
                                                                                "c.txt": "pending"}
    assert db.scalar(sa.select(sa.func.count()).select_from(SubmissionFile)) == 2
    assert db.scalar(sa.select(sa.func.count()).select_from(Submission)) == 1
    # Text only, same file kept: nothing new to check, no job.
    third = _submit(client, auth, activity.id, body="v3", files=[a]).get_json()
    assert third["job"] is None and [f["filename"] for f in third["submission"]["files"]] == ["a.pdf"]


def test_a_dropped_verified_file_is_handed_back_by_the_check(client, db, course):
    """A verified file was claimed (kept from the lifecycle rule); dropped by a resubmission, the
    check job releases it. A dropped pending one still carries the unclaimed tag: nothing to do."""
    student, activity = course["students"][0], course["activity"]
    auth = factories.login(client, student)
    a, b, c = (upload_key(activity.id, student.id, n) for n in ("a.pdf", "b.png", "c.txt"))
    _submit(client, auth, activity.id, files=[a, b])
    db.execute(sa.update(SubmissionFile).where(SubmissionFile.key == a).values(state="verified", size=5))
    db.commit()
    dropped_both = _submit(client, auth, activity.id, files=[c]).get_json()
    job = db.get(Job, uuid.UUID(dropped_both["job"]["id"]))
    assert job.payload["release"] == [a]
    db.execute(sa.update(SubmissionFile).where(SubmissionFile.key == c).values(state="verified", size=5))
    db.commit()
    text_only = _submit(client, auth, activity.id, body="no files now").get_json()
    assert text_only["job"] is not None and text_only["submission"]["files"] == []
    assert db.get(Job, uuid.UUID(text_only["job"]["id"])).payload["release"] == [c]


def test_keys_must_be_the_students_own_uploads_for_this_activity(client, db, course):
    student, other, activity = course["students"][0], course["students"][1], course["activity"]
    auth = factories.login(client, student)
    for key in (upload_key(activity.id, other.id, "a.pdf"), upload_key(activity.id + 1, student.id, "a.pdf"),
                "reports/x/y.csv", f"submissions/{activity.id}/{student.id}/../../a.pdf"):
        response = _submit(client, auth, activity.id, files=[key])
        assert response.status_code == 404 and response.get_json()["field"] == "files", key
    assert db.scalar(sa.select(sa.func.count()).select_from(Submission)) == 0


def test_bounds_of_a_submission(client, course):
    student, activity = course["students"][0], course["activity"]
    auth = factories.login(client, student)
    key = upload_key(activity.id, student.id, "a.pdf")
    assert _submit(client, auth, activity.id, body="   ").status_code == 422
    assert _submit(client, auth, activity.id, files=[key, key]).status_code == 422
    many = [upload_key(activity.id, student.id, f"{i}.pdf") for i in range(11)]
    assert _submit(client, auth, activity.id, files=many).status_code == 422
    assert _submit(client, auth, activity.id, body="x" * 50_001).status_code == 400
    assert _submit(client, auth, activity.id, files="a.pdf").status_code == 400
    assert _submit(client, auth, activity.id, body="ok", extra=1).status_code == 400


def test_after_the_due_date_late_if_allowed_else_refused(client, db, course):
    student, activity = course["students"][0], course["activity"]
    auth = factories.login(client, student)
    activity.due_at = utcnow() - timedelta(minutes=1)
    db.commit()
    refused = _submit(client, auth, activity.id, body="tarde")
    assert refused.status_code == 409 and "late work" in refused.get_json()["error"]
    assert client.post(f"/api/activities/{activity.id}/uploads", json={"filename": "a.pdf"},
                       headers=auth).status_code == 409
    activity.allow_late = True
    db.commit()
    late = _submit(client, auth, activity.id, body="tarde")
    assert late.status_code == 200 and late.get_json()["submission"]["state"] == "late"


def test_an_unpublished_activity_refuses(client, db, course):
    student, activity = course["students"][0], course["activity"]
    activity.status = "unpublished"
    db.commit()
    response = _submit(client, factories.login(client, student), activity.id, body="x")
    assert response.status_code == 409 and "not published" in response.get_json()["error"]


def test_the_teacher_lists_every_student_with_their_state(client, db, course):
    teacher, (a, b, c), activity = course["teacher"], course["students"], course["activity"]
    _submit(client, factories.login(client, a), activity.id, body="on time",
            files=[upload_key(activity.id, a.id, "a.pdf")])
    activity.allow_late, activity.due_at = True, utcnow() - timedelta(seconds=1)
    db.commit()
    _submit(client, factories.login(client, b), activity.id, body="late")
    response = client.get(f"/api/activities/{activity.id}/submissions", headers=factories.login(client, teacher))
    assert response.status_code == 200
    data = response.get_json()
    states = {row["student"]["id"]: row["state"] for row in data["items"]}
    assert states == {a.id: "submitted", b.id: "late", c.id: "not_submitted"}
    assert data["counts"] == {"enrolled": 3, "submitted": 1, "late": 1, "not_submitted": 1}
    assert data["total"] == 3
    row_a = next(r for r in data["items"] if r["student"]["id"] == a.id)
    assert row_a["files"][0]["state"] == "pending" and row_a["files"][0]["download_url"] is None
    paged = client.get(f"/api/activities/{activity.id}/submissions?size=2&page=2",
                       headers=factories.login(client, teacher)).get_json()
    assert len(paged["items"]) == 1 and paged["pages"] == 2


def test_others_cannot_list_or_download(client, db, course, web_app):
    activity, (a, b, _) = course["activity"], course["students"]
    other_teacher = factories.user(db, course["school"], "teacher")
    admin = factories.user(db, course["school"], "admin")
    db.commit()
    _submit(client, factories.login(client, a), activity.id, files=[upload_key(activity.id, a.id, "a.pdf")])
    file = db.scalars(sa.select(SubmissionFile)).one()
    file.state = "verified"
    db.commit()
    url = f"/api/activities/{activity.id}/submissions"
    assert client.get(url, headers=factories.login(client, other_teacher)).status_code == 404
    assert client.get(url, headers=factories.login(client, admin)).status_code == 403
    assert client.get(url, headers=factories.login(client, b)).status_code == 403
    download = f"/api/submission-files/{file.id}/download"
    for person in (other_teacher, admin, b):
        assert client.get(download, headers=factories.login(client, person)).status_code == 404
    for person in (course["teacher"], a):
        response = client.get(download, headers=factories.login(client, person))
        assert response.status_code == 302 and file.key in response.headers["Location"]
        assert "Expires=" in response.headers["Location"] or "X-Amz-Expires=60" in response.headers["Location"]


def test_a_file_not_yet_checked_cannot_be_downloaded(client, db, course):
    a, activity = course["students"][0], course["activity"]
    _submit(client, factories.login(client, a), activity.id, files=[upload_key(activity.id, a.id, "a.pdf")])
    file = db.scalars(sa.select(SubmissionFile)).one()
    response = client.get(f"/api/submission-files/{file.id}/download", headers=factories.login(client, a))
    assert response.status_code == 409


def test_the_zip_is_one_job_while_in_progress_and_only_for_the_teacher(client, db, course):
    activity = course["activity"]
    auth = factories.login(client, course["teacher"])
    first = client.post(f"/api/activities/{activity.id}/submissions/zip", headers=auth)
    assert first.status_code == 202 and first.get_json()["job"]["type"] == "submissions_zip"
    assert first.headers["Location"] == f"/api/jobs/{first.get_json()['job']['id']}"
    again = client.post(f"/api/activities/{activity.id}/submissions/zip", headers=auth)
    assert again.status_code == 200 and again.get_json()["job"]["id"] == first.get_json()["job"]["id"]
    student = client.post(f"/api/activities/{activity.id}/submissions/zip",
                          headers=factories.login(client, course["students"][0]))
    assert student.status_code == 403


def test_the_own_submission_is_polled_until_every_file_is_checked(client, db, course):
    student, activity = course["students"][0], course["activity"]
    auth = factories.login(client, student)
    url = f"/api/activities/{activity.id}/submission"
    none = client.get(url, headers=auth)
    assert none.get_json() == {"submission": None} and "Retry-After" not in none.headers
    _submit(client, auth, activity.id, files=[upload_key(activity.id, student.id, "a.pdf")])
    pending = client.get(url, headers=auth)
    assert pending.headers["Retry-After"] and pending.headers["ETag"]
    assert client.get(url, headers={**auth, "If-None-Match": pending.headers["ETag"]}).status_code == 304
    db.execute(sa.update(SubmissionFile).values(state="rejected", error="its content is not a PDF"))
    db.commit()
    checked = client.get(url, headers={**auth, "If-None-Match": pending.headers["ETag"]})
    assert checked.status_code == 200 and "Retry-After" not in checked.headers
    assert checked.get_json()["submission"]["files"][0]["error"] == "its content is not a PDF"
    other = factories.login(client, course["students"][1])
    assert client.get(url, headers=other).get_json() == {"submission": None}  # only one's own
