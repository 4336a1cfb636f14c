"""The submission_check job: each pending file read back from S3 and judged from its bytes
(size, type, SHA-256), verified or rejected with the reason; redelivered, nothing changes twice."""
from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import envelope_for
from core.models import Activity, Job, Submission, SubmissionFile
from core.storage import UNCLAIMED_TAG
from core.submissions import ALLOWED, upload_key
from tests import factories
from tests.sqsd import deliver

PDF = b"%PDF-1.7\n" + b"x" * 2000
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.fixture
def submission(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, (student,) = factories.school_class(db, teacher, students=1)
    activity = Activity(class_id=group.id, title="Lista", published_at=utcnow(), due_at=utcnow() + timedelta(days=1))
    db.add(activity)
    db.flush()
    row = Submission(activity_id=activity.id, student_id=student.id, body="")
    db.add(row)
    db.commit()
    return row


def _file(db, worker_app, submission, filename, data, content_type=None, key=None):
    key = key or upload_key(submission.activity_id, submission.student_id, filename)
    ext = filename.rsplit(".", 1)[-1]
    declared = ALLOWED[ext].content_type if ext in ALLOWED else "application/octet-stream"
    if data is not None:
        storage = worker_app.extensions["aula"].storage
        storage.put(key, data, content_type or declared)
    row = SubmissionFile(submission_id=submission.id, key=key, filename=filename, content_type=declared)
    db.add(row)
    db.commit()
    return row


def _check(worker_client, make_job, submission):
    job = make_job("submission_check", {"submission_id": submission.id}, owner_id=submission.student_id)
    body = envelope_for(job).to_json()
    response = deliver(worker_client, body)
    assert response.get_json()["outcome"] == "succeeded", response.get_json()
    return job, body


def _states(db, submission):
    db.expire_all()
    return {f.filename: (f.state, f.error) for f in
            db.scalars(sa.select(SubmissionFile).where(SubmissionFile.submission_id == submission.id))}


def test_good_files_are_verified_with_size_and_sha256(db, worker_app, worker_client, make_job, submission):
    files = {"a.pdf": PDF, "b.png": PNG, "c.txt": "Olá, professora\n".encode(), "d.docx": _docx()}
    for name, data in files.items():
        _file(db, worker_app, submission, name, data)
    job, _ = _check(worker_client, make_job, submission)
    db.expire_all()
    rows = {f.filename: f for f in db.scalars(sa.select(SubmissionFile))}
    for name, data in files.items():
        assert (rows[name].state, rows[name].error) == ("verified", None), name
        assert rows[name].size == len(data) and rows[name].checksum == hashlib.sha256(data).hexdigest()
    assert db.get(Job, job.id).result == {"verified": 4, "rejected": 0, "released": 0}


def test_content_that_is_not_its_type_is_rejected(db, worker_app, worker_client, make_job, submission):
    _file(db, worker_app, submission, "fake.pdf", b"MZ\x90\x00 this is an exe")
    _file(db, worker_app, submission, "fake.png", PDF)
    _file(db, worker_app, submission, "binary.txt", b"abc\x00def")
    _file(db, worker_app, submission, "latin1.txt", "café".encode("latin-1"))
    _file(db, worker_app, submission, "fake.docx", b"<html>")
    _file(db, worker_app, submission, "missing.pdf", None)
    _file(db, worker_app, submission, "retyped.pdf", PDF, content_type="text/html")
    _file(db, worker_app, submission, "empty.txt", b"")
    _check(worker_client, make_job, submission)
    states = _states(db, submission)
    assert all(state == "rejected" for state, _ in states.values()), states
    assert states["fake.pdf"][1] == "its content is not a PDF"
    assert states["fake.png"][1] == "its content is not a PNG image"
    assert "NUL" in states["binary.txt"][1] and "UTF-8" in states["latin1.txt"][1]
    assert states["missing.pdf"][1] == "nothing was uploaded for this file"
    assert "text/html" in states["retyped.pdf"][1]
    assert states["empty.txt"][1] == "the file is empty"


def test_a_file_over_the_limit_is_rejected(db, worker_app, worker_client, make_job, submission):
    limit = worker_app.extensions["aula"].settings.submission_max_bytes
    _file(db, worker_app, submission, "big.txt", b"a" * (limit + 1))
    _check(worker_client, make_job, submission)
    assert _states(db, submission)["big.txt"] == ("rejected", f"the file is larger than {limit} bytes")


def test_a_key_outside_the_students_prefix_is_rejected_unread(db, worker_app, worker_client, make_job, submission):
    other = upload_key(submission.activity_id, submission.student_id + 1, "a.pdf")
    _file(db, worker_app, submission, "a.pdf", PDF, key=other)
    _check(worker_client, make_job, submission)
    assert _states(db, submission)["a.pdf"] == ("rejected", "the file is not one of this submission's uploads")


def test_redelivery_and_a_second_job_change_nothing(db, worker_app, worker_client, make_job, submission):
    _file(db, worker_app, submission, "a.pdf", PDF)
    _job, body = _check(worker_client, make_job, submission)
    before = _states(db, submission)
    again = deliver(worker_client, body)
    assert again.status_code == 200
    # The object replaced after the verdict: a later job checks only pending rows, so it stands.
    worker_app.extensions["aula"].storage.put(
        upload_key(submission.activity_id, submission.student_id, "x.pdf"), b"junk", "application/pdf")
    second, _ = _check(worker_client, make_job, submission)
    assert _states(db, submission) == before == {"a.pdf": ("verified", None)}
    db.expire_all()
    assert db.get(Job, second.id).result == {"verified": 0, "rejected": 0, "released": 0}


def test_a_submission_gone_is_nothing_to_check(db, worker_client, make_job, submission):
    db.delete(db.get(Submission, submission.id))
    db.commit()
    job, _ = _check(worker_client, make_job, submission)
    db.expire_all()
    assert db.get(Job, job.id).result["gone"] is True


def test_a_file_dropped_by_a_resubmission_before_the_check_is_skipped(db, worker_app, worker_client, make_job,
                                                                      submission):
    kept = _file(db, worker_app, submission, "kept.pdf", PDF)
    dropped = _file(db, worker_app, submission, "dropped.pdf", PDF)
    job = make_job("submission_check", {"submission_id": submission.id}, owner_id=submission.student_id)
    db.delete(db.get(SubmissionFile, dropped.id))
    db.commit()
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert _states(db, submission) == {"kept.pdf": ("verified", None)}
    assert db.get(SubmissionFile, kept.id).checksum == hashlib.sha256(PDF).hexdigest()


def test_a_verified_file_is_claimed_and_a_rejected_one_left_to_expire(db, worker_app, worker_client, make_job,
                                                                      submission):
    """Browser uploads arrive tagged unclaimed (the POST policy's `tagging`; moto's POST does not
    apply it, so the test tags as S3 would); the bucket's lifecycle expires what keeps the tag.
    The check removes it from verified files only."""
    storage = worker_app.extensions["aula"].storage
    good = _file(db, worker_app, submission, "a.pdf", PDF)
    bad = _file(db, worker_app, submission, "fake.pdf", b"MZ not a pdf")
    for row in (good, bad):
        storage.s3.put_object_tagging(Bucket=storage.bucket, Key=row.key, Tagging={
            "TagSet": [{"Key": UNCLAIMED_TAG[0], "Value": UNCLAIMED_TAG[1]}]})
    _check(worker_client, make_job, submission)
    assert storage.tags(good.key) == {}
    assert storage.tags(bad.key) == {UNCLAIMED_TAG[0]: UNCLAIMED_TAG[1]}


def test_a_file_a_resubmission_dropped_is_released_unless_handed_in_again(db, worker_app, worker_client, make_job,
                                                                          submission):
    """`release`: each dropped verified file gets its unclaimed tag back (the lifecycle rule then
    expires it); one a submission holds again stays claimed; one already gone is no error."""
    storage = worker_app.extensions["aula"].storage
    dropped_key = upload_key(submission.activity_id, submission.student_id, "old.pdf")
    storage.put(dropped_key, PDF, "application/pdf")
    again = _file(db, worker_app, submission, "again.pdf", PDF)
    db.execute(sa.update(SubmissionFile).where(SubmissionFile.id == again.id).values(state="verified"))
    db.commit()
    gone_key = upload_key(submission.activity_id, submission.student_id, "gone.pdf")
    job = make_job("submission_check", {"submission_id": submission.id,
                                        "release": [dropped_key, again.key, gone_key]},
                   owner_id=submission.student_id)
    body = envelope_for(job).to_json()
    assert deliver(worker_client, body).get_json()["outcome"] == "succeeded"
    assert storage.tags(dropped_key) == {UNCLAIMED_TAG[0]: UNCLAIMED_TAG[1]}
    assert storage.tags(again.key) == {}
    db.expire_all()
    assert db.get(Job, job.id).result["released"] == 1
    assert deliver(worker_client, body).get_json()["outcome"] == "not_claimed"  # done: the redelivery runs nothing
    assert storage.tags(dropped_key) == {UNCLAIMED_TAG[0]: UNCLAIMED_TAG[1]} and storage.tags(again.key) == {}
