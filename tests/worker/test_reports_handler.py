"""Report jobs in both kinds and both formats: the stored file read back and compared with the
database, content types, progress while building, the recorded effect, and access."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import envelope_for
from core.models import Activity, Effect, Enrollment, Grade, Job, User
from core.reports import CHUNK_ROWS, CONTENT_TYPES, GRADES_LEADING_COLUMNS, ROSTER_COLUMNS, roster_rows
from tests import factories
from tests.sqsd import deliver, pump
from worker.context import JobContext


def _job(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def _stored(worker_app, job: Job) -> tuple[bytes, str]:
    s3 = worker_app.extensions["aula"].storage
    head = s3.s3.head_object(Bucket=s3.bucket, Key=job.result["file_key"])
    return s3.get(job.result["file_key"]), head["ContentType"]


def _xlsx_rows(data: bytes) -> list[tuple]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [tuple(row) for row in sheet.iter_rows(values_only=True)]


@pytest.fixture
def gradebook(db):
    """A class of 5 with 3 published activities (one undated, created first), a draft, and
    grades with gaps; plus someone else's class whose grades must not leak in."""
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, students = factories.school_class(db, teacher, students=5)
    now = utcnow()
    undated = Activity(class_id=group.id, title="Projeto", published_at=now)
    later = Activity(class_id=group.id, title="Prova 2", due_at=now + timedelta(days=20), published_at=now)
    sooner = Activity(class_id=group.id, title="Prova 1", due_at=now + timedelta(days=10), published_at=now)
    draft = Activity(class_id=group.id, title="Rascunho", due_at=now + timedelta(days=1))
    db.add_all([undated, later, sooner, draft])
    db.flush()
    a, b, c, _d, e = students
    scores = {(a, sooner): 7.5, (a, later): 9.0, (a, undated): 10.0, (b, sooner): 6.25, (c, later): 8.0,
              (e, sooner): 0.0, (e, later): 5.0}
    db.add_all(Grade(activity_id=act.id, student_id=s.id, score=score) for (s, act), score in scores.items())
    other_group, _ = factories.school_class(db, teacher, students=0)
    elsewhere = Activity(class_id=other_group.id, title="Outra", published_at=now)
    db.add(elsewhere)
    db.flush()
    db.add(Grade(activity_id=elsewhere.id, student_id=a.id, score=1.0))
    db.commit()
    return teacher, group, students, [sooner, later, undated], scores


def _expected_grades(db, group, students, activities, scores):
    rows = []
    for sid, name, email, _ in roster_rows(db, group.id):
        student = next(s for s in students if s.id == sid)
        cells = [scores.get((student, act)) for act in activities]
        present = [x for x in cells if x is not None]
        average = round(sum(present) / len(present), 2) if present else None
        rows.append([sid, name, email, *cells, len(present), average])
    return rows


def _run_report(worker_client, make_job, owner, group, kind, fmt):
    job = make_job("report", {"kind": kind, "class_id": group.id, "format": fmt}, owner_id=owner.id)
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.get_json()["outcome"] == "succeeded", response.get_json()
    return job


def test_grades_xlsx_matches_the_database(worker_app, worker_client, db, make_job, gradebook):
    teacher, group, students, activities, scores = gradebook
    job = _job(db, _run_report(worker_client, make_job, teacher, group, "class_grades", "xlsx").id)

    data, content_type = _stored(worker_app, job)
    assert content_type == CONTENT_TYPES["xlsx"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert job.result["filename"] == f"grades-{group.code}.xlsx" and job.result["file_key"].endswith(".xlsx")
    header, *rows = _xlsx_rows(data)
    assert header == (*GRADES_LEADING_COLUMNS, f"Prova 1 (#{activities[0].id})", f"Prova 2 (#{activities[1].id})",
                      f"Projeto (#{activities[2].id})", "graded", "average")
    expected = _expected_grades(db, group, students, activities, scores)
    assert [list(r) for r in rows] == expected
    by_id = {r[0]: r for r in rows}
    a, b, _, d, e = students
    assert by_id[a.id][-2:] == (3, 8.83)  # (7.5 + 9 + 10) / 3
    assert by_id[b.id][3:] == (6.25, None, None, 1, 6.25)  # a missing grade is an empty cell, not a zero
    assert by_id[d.id][3:] == (None, None, None, 0, None)
    assert by_id[e.id][3:] == (0.0, 5.0, None, 2, 2.5)  # a real zero counts
    assert job.result["rows"] == 5


def test_grades_csv_matches_the_database(worker_app, worker_client, db, make_job, gradebook):
    teacher, group, students, activities, scores = gradebook
    job = _job(db, _run_report(worker_client, make_job, teacher, group, "class_grades", "csv").id)

    data, content_type = _stored(worker_app, job)
    assert content_type == "text/csv; charset=utf-8"
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert header[:3] == list(GRADES_LEADING_COLUMNS) and header[-2:] == ["graded", "average"]
    assert header[3:-2] == [f"{a.title} (#{a.id})" for a in activities]

    def text(value):
        return "" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    assert rows == [[text(v) for v in row] for row in _expected_grades(db, group, students, activities, scores)]


def test_roster_xlsx_matches_the_database(worker_app, worker_client, db, make_job, gradebook):
    teacher, group, _, _, _ = gradebook
    job = _job(db, _run_report(worker_client, make_job, teacher, group, "class_roster", "xlsx").id)
    data, content_type = _stored(worker_app, job)
    assert content_type == CONTENT_TYPES["xlsx"]
    header, *rows = _xlsx_rows(data)
    assert header == ROSTER_COLUMNS
    expected = [(sid, name, email, enrolled) for sid, name, email, enrolled in roster_rows(db, group.id)]
    assert [(r[0], r[1], r[2], r[3].strftime("%Y-%m-%dT%H:%M:%SZ")) for r in rows] == expected


def test_report_progress_is_reported_while_building_and_the_file_is_recorded_once(
    worker_app, worker_client, db, make_job, monkeypatch
):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, _ = factories.school_class(db, teacher)
    tag = uuid.uuid4().hex[:8]
    count = CHUNK_ROWS * 2 + 50
    ids = db.scalars(sa.insert(User).returning(User.id), [
        {"institution_id": school.id, "email": f"p{i}-{tag}@example.test", "full_name": f"Pupil {i:04d}",
         "role": "student", "password_hash": "-", "created_at": utcnow()} for i in range(count)]).all()
    db.execute(sa.insert(Enrollment), [{"class_id": group.id, "student_id": i, "enrolled_at": utcnow()} for i in ids])
    db.commit()
    seen: list[int] = []
    original = JobContext.progress

    def recording(self, percent):
        seen.append(percent)
        original(self, percent)

    monkeypatch.setattr(JobContext, "progress", recording)
    job = _run_report(worker_client, make_job, teacher, group, "class_roster", "xlsx")

    assert seen == sorted(seen) and seen[0] == 5 and seen[-1] == 90
    assert len([p for p in seen if 10 < p < 80]) == 2  # one per chunk of rows between first and last
    row = _job(db, job.id)
    assert row.result["rows"] == count and row.progress == 100
    effect = db.get(Effect, f"report:{job.id}")
    assert effect.job_id == job.id and effect.detail["file_key"] == row.result["file_key"]
    assert effect.detail["rows"] == count
    assert len(_xlsx_rows(_stored(worker_app, row)[0])) == count + 1


def test_text_that_looks_like_a_formula_stays_text(worker_app, worker_client, db, make_job):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, _ = factories.school_class(db, teacher)
    sneaky = factories.user(db, school, "student", name='=HYPERLINK("http://evil.test","x")')
    db.add(Enrollment(class_id=group.id, student_id=sneaky.id))
    db.commit()

    xlsx = _job(db, _run_report(worker_client, make_job, teacher, group, "class_roster", "xlsx").id)
    sheet = openpyxl.load_workbook(io.BytesIO(_stored(worker_app, xlsx)[0])).active
    assert sheet["B2"].value == sneaky.full_name and sheet["B2"].data_type == "s"

    text = _job(db, _run_report(worker_client, make_job, teacher, group, "class_roster", "csv").id)
    _, row = list(csv.reader(io.StringIO(_stored(worker_app, text)[0].decode())))
    assert row[1] == "'" + sneaky.full_name


def test_an_unknown_format_or_class_fails_at_once(worker_client, db, make_job, make_raw_job, gradebook):
    teacher, group, _, _, _ = gradebook
    pdf = make_raw_job("report", {"kind": "class_grades", "class_id": group.id, "format": "pdf"}, owner_id=teacher.id)
    gone = make_job("report", {"kind": "class_grades", "class_id": 999999, "format": "xlsx"}, owner_id=teacher.id)
    for job in (pdf, gone):
        deliver(worker_client, envelope_for(job).to_json())
    assert (_job(db, pdf.id).state, _job(db, pdf.id).error) == (
        "failed", "invalid payload: format must be one of 'csv' or 'xlsx'")
    assert (_job(db, gone.id).state, _job(db, gone.id).error) == ("failed", "class 999999 no longer exists")


@pytest.mark.parametrize("kind, fmt", [("class_grades", "xlsx"), ("class_grades", "csv"), ("class_roster", "xlsx")])
def test_every_kind_and_format_is_accepted_by_the_api_and_downloadable_by_its_owner_only(
    client, worker_client, db, sqs, aws, gradebook, kind, fmt
):
    teacher, group, _, _, _ = gradebook
    colleague = factories.user(db, teacher.institution, "teacher")
    db.commit()
    headers = factories.login(client, teacher)
    accepted = client.post("/api/reports", json={"kind": kind, "class_id": group.id, "format": fmt}, headers=headers)
    assert accepted.status_code == 202, accepted.get_json()
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    job_url = accepted.headers["Location"]
    job = client.get(job_url, headers=headers).get_json()["job"]
    assert job["state"] == "succeeded" and job["result"]["filename"].endswith(f".{fmt}")
    assert "file_key" not in job["result"]
    download = client.get(job_url + "/download", headers=headers)
    assert download.status_code == 302 and f".{fmt}" in download.headers["Location"]
    assert client.get(job_url + "/download", headers=factories.login(client, colleague)).status_code == 404
