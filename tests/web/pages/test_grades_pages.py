"""Grades pages: the teacher grades from /activities/<id>/grades (each student's submission
state, a form each with the CSRF token; a bad score is a form message, a good one enqueues the
notification), and a student reads their own grades and attendance at /classes/<id>/grades."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import Activity, Attendance, Grade, Job, Lesson, Submission
from tests import factories
from tests.web.pages.helpers import csrf_token, elements, page_login


@pytest.fixture
def course(db):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, (ana, bia) = factories.school_class(db, teacher, students=2)
    colleague = factories.user(db, teacher.institution, "teacher")
    now = utcnow()
    activity = Activity(class_id=group.id, title="Lista <1>", description="", due_at=now + timedelta(days=2),
                        published_at=now, status="published")
    db.add(activity)
    db.flush()
    db.add(Submission(activity_id=activity.id, student_id=bia.id, body="resposta", late=True))
    db.commit()
    return {"teacher": teacher, "group": group, "ana": ana, "bia": bia, "activity": activity, "colleague": colleague}


def test_the_teacher_sees_each_students_state_and_grades_them(client, db, course):
    teacher, activity, ana, bia = course["teacher"], course["activity"], course["ana"], course["bia"]
    ana.time_zone = "America/Sao_Paulo"
    db.commit()
    page_login(client, teacher)
    html = client.get(f"/activities/{activity.id}/grades").get_data(as_text=True)
    rows = {r["data-student"]: r["data-state"] for r in elements(html, "tr", "data-student")}
    assert rows == {str(ana.id): "not_submitted", str(bia.id): "late"}
    assert "Lista &lt;1&gt;" in html and "<1>" not in html
    assert len(elements(html, "form", "data-grade-form")) == 2 and 'name="csrf_token"' in html

    token = csrf_token(client, f"/activities/{activity.id}/grades")
    saved = client.post(f"/activities/{activity.id}/grades/{bia.id}",
                        data={"csrf_token": token, "score": "8,5", "feedback": "Bom"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"#student-{bia.id}")
    db.expire_all()
    grade = db.scalars(sa.select(Grade).where(Grade.student_id == bia.id)).one()
    assert (float(grade.score), grade.feedback) == (8.5, "Bom")
    assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.type == "grade_posted")) == 1
    after = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert {r["data-student"]: r["data-state"] for r in elements(after, "tr", "data-student")}[str(bia.id)] == "graded"
    assert 'value="8.5"' in after and "data-saved" in after

    bad = client.post(f"/activities/{activity.id}/grades/{ana.id}", data={"csrf_token": token, "score": "200"})
    assert bad.status_code == 400 and "score must be a number from 0 to 100" in bad.get_data(as_text=True)
    assert client.post(f"/activities/{activity.id}/grades/{ana.id}", data={"score": "5"}).status_code == 400  # no CSRF


def test_only_the_classes_teacher_opens_the_grades_page(client, db, course):
    activity = course["activity"]
    page_login(client, course["colleague"])
    assert client.get(f"/activities/{activity.id}/grades").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/preferences")})
    page_login(client, course["ana"])
    assert client.get(f"/activities/{activity.id}/grades").status_code == 403  # not a student's page


def test_a_student_reads_their_own_grades_and_attendance(client, db, course):
    group, activity, ana, bia = course["group"], course["activity"], course["ana"], course["bia"]
    db.add_all([Grade(activity_id=activity.id, student_id=ana.id, score=9, feedback="Ótimo", graded_at=utcnow()),
                Grade(activity_id=activity.id, student_id=bia.id, score=2, feedback="PRIVATE", graded_at=utcnow())])
    lesson = Lesson(class_id=group.id, held_on=date(2026, 3, 2), topic="Frações")
    db.add(lesson)
    db.flush()
    db.add(Attendance(lesson_id=lesson.id, student_id=ana.id, present=False))
    db.commit()
    page_login(client, ana)
    response = client.get(f"/classes/{group.id}/grades")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    [row] = elements(html, "tr", "data-activity")
    assert row["data-state"] == "graded" and "9 / 100" in html and "Ótimo" in html and "PRIVATE" not in html
    assert f'href="/activities/{activity.id}"' in html
    assert "Present at 0 of 1" in html and "absent" in html
    other, _ = factories.school_class(db, course["teacher"], students=1)
    db.commit()
    assert client.get(f"/classes/{other.id}/grades").status_code == 404


def test_grade_pages_show_times_through_the_localtime_filter(client, db, course):
    """Both grades pages write times as every other page does: in the viewer's zone, zone named,
    inside <time datetime="...Z"> (they had their own formatter, without the abbreviation)."""
    activity, bia, teacher = course["activity"], course["bia"], course["teacher"]
    bia.time_zone, teacher.time_zone = "Europe/Lisbon", "Asia/Kolkata"
    db.commit()
    due = activity.due_at
    page_login(client, bia)
    mine = client.get(f"/classes/{course['group'].id}/grades").get_data(as_text=True)
    lisbon = due.astimezone(ZoneInfo("Europe/Lisbon"))
    assert f'<time datetime="{due.isoformat().replace("+00:00", "Z")}">' in mine
    assert f"{lisbon:%Y-%m-%d %H:%M} Europe/Lisbon ({lisbon.tzname()})" in mine
    page_login(client, teacher)
    graded = client.get(f"/activities/{activity.id}/grades").get_data(as_text=True)
    assert f"{due.astimezone(ZoneInfo('Asia/Kolkata')):%Y-%m-%d %H:%M} Asia/Kolkata (IST)" in graded
