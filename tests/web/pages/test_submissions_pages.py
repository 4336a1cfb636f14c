"""Submission pages: the student's submit page (state, files and their checks, the text-only
form with its CSRF token, closed after the due date), the teacher's list (who submitted, in
the viewer's time zone, downloads) and the ZIP's progress section."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import Activity, Job, Submission, SubmissionFile
from core.submissions import upload_key
from tests import factories
from tests.web.pages.helpers import csrf_from, page_login


@pytest.fixture
def course(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, students = factories.school_class(db, teacher, students=2)
    activity = Activity(class_id=group.id, title="Lista 7", published_at=utcnow(), due_at=utcnow() + timedelta(days=2))
    db.add(activity)
    db.commit()
    return teacher, students, activity


def test_the_submit_page_sends_text_with_the_csrf_token(client, db, course):
    _, (student, _), activity = course
    page_login(client, student)
    page = client.get(f"/activities/{activity.id}/submit")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Not submitted yet." in html and "data-submit-form" in html
    assert 'data-uploads-url="/api/activities/' in html
    # The page's script may connect to S3 (the upload), and to nothing else but the site.
    policy = page.headers["Content-Security-Policy"]
    assert "connect-src 'self' https://aula-files.s3.amazonaws.com" in policy and "script-src 'self'" in policy
    without = client.post(f"/activities/{activity.id}/submit", data={"body": "Sem token"})
    assert without.status_code == 400
    sent = client.post(f"/activities/{activity.id}/submit", data={"body": "Minha resposta", "csrf_token": csrf_from(html)})
    assert sent.status_code == 303
    row = db.scalars(sa.select(Submission)).one()
    assert row.body == "Minha resposta" and row.student_id == student.id and not row.late
    again = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Submitted." in again and "Resubmit" in again


def test_an_empty_submission_is_a_form_message(client, course):
    _, (student, _), activity = course
    page_login(client, student)
    token = csrf_from(client.get(f"/activities/{activity.id}/submit").get_data(as_text=True))
    response = client.post(f"/activities/{activity.id}/submit", data={"body": "  ", "csrf_token": token})
    assert response.status_code == 422 and "send some text" in response.get_data(as_text=True)


def test_files_show_their_check_and_untick_to_drop(client, db, course):
    _, (student, _), activity = course
    submission = Submission(activity_id=activity.id, student_id=student.id, body="x")
    db.add(submission)
    db.flush()
    good, bad = (upload_key(activity.id, student.id, n) for n in ("ok.pdf", "bad.png"))
    db.add_all([SubmissionFile(submission_id=submission.id, key=good, filename="ok.pdf", content_type="application/pdf",
                               state="verified", size=10),
                SubmissionFile(submission_id=submission.id, key=bad, filename="bad.png", content_type="image/png",
                               state="rejected", error="its content is not a PNG image")])
    db.commit()
    page_login(client, student)
    html = client.get(f"/activities/{activity.id}/submit").get_data(as_text=True)
    assert "its content is not a PNG image" in html and "/api/submission-files/" in html
    assert 'data-finished="true"' in html
    client.post(f"/activities/{activity.id}/submit", data={"body": "x", "keep": [good], "csrf_token": csrf_from(html)})
    db.expire_all()
    assert [f.filename for f in db.scalars(sa.select(SubmissionFile))] == ["ok.pdf"]


def test_after_the_due_date_the_page_says_it_is_closed(client, db, course):
    _, (student, _), activity = course
    activity.due_at = utcnow() - timedelta(hours=1)
    db.commit()
    page_login(client, student)
    html = client.get(f"/activities/{activity.id}/submit").get_data(as_text=True)
    assert "does not accept late work" in html and "data-submit-form" not in html
    activity.allow_late = True
    db.commit()
    html = client.get(f"/activities/{activity.id}/submit").get_data(as_text=True)
    assert "data-late-warning" in html and "data-submit-form" in html


def test_other_students_and_teachers_cannot_use_the_submit_page(client, web_app, db, course):
    teacher, _, activity = course
    outsider = factories.user(db, db.get(type(teacher), teacher.id).institution, "student")
    db.commit()
    page_login(client, outsider)
    assert client.get(f"/activities/{activity.id}/submit").status_code == 404
    as_teacher = web_app.test_client()
    page_login(as_teacher, teacher)
    assert as_teacher.get(f"/activities/{activity.id}/submit").status_code == 403


def test_the_teacher_sees_who_submitted_in_their_time_zone(client, db, course):
    teacher, (a, b), activity = course
    teacher.time_zone = "America/Sao_Paulo"
    db.add(Submission(activity_id=activity.id, student_id=a.id, body="Resposta de A",
                      submitted_at=datetime(2026, 3, 10, 15, 0, tzinfo=UTC)))
    db.commit()
    page_login(client, teacher)
    response = client.get(f"/activities/{activity.id}/submissions")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'data-student="{a.id}" data-state="submitted"' in html
    assert f'data-student="{b.id}" data-state="not_submitted"' in html
    assert "12:00" in html  # 15:00 UTC in São Paulo
    assert "Resposta de A" in html and 'id="build-zip"' in html


def test_the_zip_form_starts_a_job_and_the_page_shows_its_progress(client, db, course):
    teacher, _, activity = course
    page_login(client, teacher)
    html = client.get(f"/activities/{activity.id}/submissions").get_data(as_text=True)
    response = client.post(f"/activities/{activity.id}/submissions/zip", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 303
    job = db.scalars(sa.select(Job).where(Job.type == "submissions_zip")).one()
    assert response.headers["Location"].endswith(f"?zip={job.id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'data-poll-url="/api/jobs/{job.id}"' in page and 'id="zip-progress"' in page


def test_students_and_other_teachers_do_not_see_the_list(client, web_app, db, course):
    teacher, (a, _), activity = course
    other = factories.user(db, db.get(type(teacher), teacher.id).institution, "teacher")
    db.commit()
    page_login(client, other)
    assert client.get(f"/activities/{activity.id}/submissions").status_code == 404
    as_student = web_app.test_client()
    page_login(as_student, a)
    assert as_student.get(f"/activities/{activity.id}/submissions").status_code == 403
