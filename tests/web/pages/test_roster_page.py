"""The roster page (/classes/<id>/roster): the form for the class's teacher or an admin (CSRF,
file, dry run), a file that cannot be read refused with a message, the job's progress polled,
then the report with every listed row's outcome and reason."""
from __future__ import annotations

import io
import re

import pytest

from tests import factories
from tests.sqsd import pump
from tests.web.pages.helpers import csrf_from, page_login


@pytest.fixture(autouse=True)
def _send_inline(web_app, monkeypatch):
    monkeypatch.setattr(web_app.extensions["aula"].queue, "sender", None)


@pytest.fixture
def course(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, (student,) = factories.school_class(db, teacher, students=1)
    other = factories.user(db, school, "teacher")
    admin = factories.user(db, school, "admin")
    db.commit()
    return teacher, group, student, other, admin


def _send(client, group, text: bytes, dry_run: bool = False):
    page = client.get(f"/classes/{group.id}/roster").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "file": (io.BytesIO(text), "alunos.csv")}
    if dry_run:
        data["dry_run"] = "1"
    return client.post(f"/classes/{group.id}/roster", data=data, content_type="multipart/form-data")


def test_the_teacher_imports_and_reads_the_report(client, db, worker_client, sqs, aws, course):
    teacher, group, student, _, _ = course
    page_login(client, teacher)
    form = client.get(f"/classes/{group.id}/roster")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'name="csrf_token"' in html and "roster.js" in html
    text = f"name,email\nNova,nova@example.test\n{student.full_name},{student.email}\nBad,bad\n".encode()
    sent = _send(client, group, text)
    assert sent.status_code == 303 and "job=" in sent.headers["Location"]
    waiting = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "data-roster-job" in waiting and 'data-finished="false"' in waiting and "/api/jobs/" in waiting
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    report = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert 'data-finished="true"' in report and 'data-count-created>1<' in report
    assert 'data-count-matched>1<' in report and 'data-count-skipped>1<' in report
    assert 'data-line="4" data-outcome="skipped"' in report and "is not an email address" in report
    assert 'data-line="2" data-outcome="created"' in report and "roster-report-download" in report


def test_a_dry_run_says_nothing_changed(client, db, worker_client, sqs, aws, course):
    _, group, _, _, admin = course
    page_login(client, admin)
    sent = _send(client, group, b"name,email\nNova,nova@example.test\n", dry_run=True)
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    report = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "data-dry-run" in report and "Nothing was changed" in report


@pytest.mark.parametrize(("text", "status", "message"), [
    (b"nome,correio\nAna,a@example.test\n", 422, "missing: name, email"),
    ("name,email\nJos\u00e9,j@example.test\n".encode("latin-1"), 422, "not UTF-8"),
    (b"name,email\n", 422, "no rows"),
])
def test_a_file_that_cannot_be_read_is_refused_on_the_form(client, course, text, status, message):
    teacher, group, _, _, _ = course
    page_login(client, teacher)
    response = _send(client, group, text)
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert "data-roster-error" in response.get_data(as_text=True)


def test_others_cannot_open_the_page_or_someone_elses_job(client, db, course):
    teacher, group, student, other, admin = course
    page_login(client, admin)
    sent = _send(client, group, b"name,email\nNova,nova@example.test\n")
    job_url = sent.headers["Location"]
    page_login(client, teacher)
    assert "data-roster-job" not in client.get(job_url).get_data(as_text=True)  # the admin's job is not shown
    page_login(client, other)
    assert client.get(f"/classes/{group.id}/roster").status_code == 404
    page_login(client, student)
    assert client.get(f"/classes/{group.id}/roster").status_code == 403


def test_a_long_report_pages_through_every_row(client, db, worker_client, sqs, aws, course):
    teacher, group, _, _, _ = course
    page_login(client, teacher)
    text = "name,email\n" + "".join(f"=Aluno {n},longo{n}@example.test\n" for n in range(450))
    sent = _send(client, group, text.encode())
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    first = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "The first 200 of 450 rows" in first and "data-all-rows" in first
    last = client.get(sent.headers["Location"] + "&page=3").get_data(as_text=True)
    assert 'data-report-page="3"' in last and "data-next-page" not in last
    lines = [int(n) for n in re.findall(r'data-line="(\d+)"', last)]
    assert lines == list(range(402, 452))
    assert "=Aluno 449" in last  # the report's guard against spreadsheet formulas is not shown
    beyond = client.get(sent.headers["Location"] + "&page=99").get_data(as_text=True)
    assert 'data-report-page="3"' in beyond
    ignored = client.get(sent.headers["Location"] + "&page=x").get_data(as_text=True)
    assert "data-report-page" not in ignored
