"""The whole path of a submission on both tiers: a form from the web tier, the file POSTed to
S3 with it (moto checks the policy's signature), the submission recorded, the check job through
the queue, then the teacher's ZIP built by its job and downloaded."""
from __future__ import annotations

import csv
import io
import uuid
import zipfile
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import envelope_for
from core.models import Activity, Effect, Job, SubmissionFile
from tests import factories
from tests.sqsd import deliver, pump

PDF = b"%PDF-1.4\n" + b"y" * 5000


@pytest.fixture
def course(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, students = factories.school_class(db, teacher, students=3)
    activity = Activity(class_id=group.id, title="Trabalho", published_at=utcnow(), due_at=utcnow() + timedelta(days=1))
    db.add(activity)
    db.commit()
    return teacher, students, activity


def _upload(client, auth, activity, filename, data):
    form = client.post(f"/api/activities/{activity.id}/uploads", json={"filename": filename},
                       headers=auth).get_json()["upload"]
    sent = requests.post(form["url"], data=form["fields"], files={"file": (form["filename"], data)}, timeout=10)
    assert sent.status_code in (200, 201, 204), sent.text
    return form["key"]


def test_a_student_uploads_and_the_check_verifies_it(client, db, worker_client, sqs, aws, course):
    _, (student, *_), activity = course
    auth = factories.login(client, student)
    key = _upload(client, auth, activity, "trabalho.pdf", PDF)
    bad = _upload(client, auth, activity, "foto.png", b"not a png at all")
    response = client.put(f"/api/activities/{activity.id}/submission", json={"body": "Segue", "files": [key, bad]},
                          headers=auth)
    assert response.status_code == 200
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    shown = client.get(f"/api/activities/{activity.id}/submission", headers=auth).get_json()["submission"]
    assert shown["checked"] is True
    states = {f["filename"]: (f["state"], f["error"]) for f in shown["files"]}
    assert states == {"trabalho.pdf": ("verified", None), "foto.png": ("rejected", "its content is not a PNG image")}


def _seed(db, worker_app, activity, student, name, data, state="verified", body=""):
    from core.models import Submission
    from core.submissions import upload_key

    submission = db.scalar(sa.select(Submission).where(Submission.activity_id == activity.id,
                                                       Submission.student_id == student.id))
    if submission is None:
        submission = Submission(activity_id=activity.id, student_id=student.id, body=body)
        db.add(submission)
        db.flush()
    key = upload_key(activity.id, student.id, name)
    worker_app.extensions["aula"].storage.put(key, data, "application/pdf")
    db.add(SubmissionFile(submission_id=submission.id, key=key, filename=name, content_type="application/pdf",
                          state=state, size=len(data)))
    db.commit()


def test_the_zip_holds_every_verified_file_and_an_index(client, db, worker_app, worker_client, make_job, course):
    teacher, (a, b, c), activity = course
    _seed(db, worker_app, activity, a, "essay.pdf", PDF, body="Texto de A")
    _seed(db, worker_app, activity, a, "essay.pdf", PDF + b"2")  # same name twice: both kept
    _seed(db, worker_app, activity, b, "bad.pdf", b"junk", state="rejected")
    job = make_job("submissions_zip", {"activity_id": activity.id}, owner_id=teacher.id)
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.get_json()["outcome"] == "succeeded", response.get_json()
    db.expire_all()
    done = db.get(Job, job.id)
    assert done.result["files"] == 2 and done.result["submissions"] == 2 and done.progress == 100
    assert db.get(Effect, f"submissions_zip:{job.id}") is not None
    data = worker_app.extensions["aula"].storage.get(done.result["file_key"])
    archive = zipfile.ZipFile(io.BytesIO(data))
    folder_a = f"{a.full_name.replace(' ', '-')}-{a.id}"
    names = set(archive.namelist())
    assert names == {"index.csv", f"{folder_a}/submission.txt", f"{folder_a}/essay.pdf", f"{folder_a}/essay-2.pdf"}
    assert archive.read(f"{folder_a}/essay.pdf") == PDF and archive.read(f"{folder_a}/essay-2.pdf") == PDF + b"2"
    assert archive.read(f"{folder_a}/submission.txt").decode() == "Texto de A"
    index = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode())))
    assert {(r["student_id"], r["file"], r["file_state"]) for r in index} == {
        (str(a.id), "essay.pdf", "verified"), (str(b.id), "bad.pdf", "rejected")}

    # The teacher downloads it through the job's presigned link; nobody else can.
    auth = factories.login(client, teacher)
    polled = client.get(f"/api/jobs/{job.id}", headers=auth).get_json()["job"]
    assert polled["result"]["download_url"] == f"/api/jobs/{job.id}/download"
    link = client.get(polled["result"]["download_url"], headers=auth)
    assert link.status_code == 302 and done.result["file_key"] in link.headers["Location"]
    assert client.get(f"/api/jobs/{job.id}/download", headers=factories.login(client, c)).status_code == 404


def test_an_empty_activity_still_gets_a_zip(db, worker_app, worker_client, make_job, course):
    teacher, _, activity = course
    job = make_job("submissions_zip", {"activity_id": activity.id}, owner_id=teacher.id)
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    db.expire_all()
    data = worker_app.extensions["aula"].storage.get(db.get(Job, job.id).result["file_key"])
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["index.csv"]


def test_the_zip_job_is_asked_through_the_api_and_reaches_the_queue(client, db, worker_client, sqs, aws, course):
    teacher, _, activity = course
    auth = factories.login(client, teacher)
    asked = client.post(f"/api/activities/{activity.id}/submissions/zip", headers=auth).get_json()["job"]
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    db.expire_all()
    assert db.get(Job, uuid.UUID(asked["id"])).state == "succeeded"
