"""Grading through the API (issue 13, item 3): only the class's teacher grades an enrolled
student of a published activity; a new or changed score enqueues one notification job, the same
score again none; a student sees their own grades and attendance, never anyone else's."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import Activity, Attendance, Grade, Job, Lesson, Submission, SubmissionFile
from tests import factories


def _activity(db, group, status="published", title="Lista 1"):
    now = utcnow()
    activity = Activity(class_id=group.id, title=title, description="", due_at=now + timedelta(days=3),
                        published_at=now if status == "published" else None, status=status)
    db.add(activity)
    db.commit()
    return activity


@pytest.fixture
def setting(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, students = factories.school_class(db, teacher, students=3)
    colleague = factories.user(db, school, "teacher")
    admin = factories.user(db, school, "admin")
    outsider = factories.user(db, school, "student")
    db.commit()
    return {"teacher": teacher, "group": group, "students": students, "colleague": colleague, "admin": admin,
            "outsider": outsider, "activity": _activity(db, group)}


def _jobs(db, activity_id=None):
    db.expire_all()
    jobs = db.scalars(sa.select(Job).where(Job.type == "grade_posted")).all()
    return [j for j in jobs if activity_id is None or j.payload["activity_id"] == activity_id]


def test_the_teacher_grades_and_a_new_or_changed_score_notifies_once(client, db, setting):
    teacher, activity, student = setting["teacher"], setting["activity"], setting["students"][0]
    auth = factories.login(client, teacher)
    url = f"/api/activities/{activity.id}/grades/{student.id}"

    first = client.put(url, json={"score": 87.5, "feedback": "  Bom trabalho.  "}, headers=auth)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert body["grade"]["score"] == 87.5 and body["grade"]["feedback"] == "Bom trabalho." and body["notified"] is True
    assert body["state"] == "graded"
    [job] = _jobs(db)
    assert job.payload["student_id"] == student.id and job.owner_id == teacher.id

    # The same score with new feedback: stored, nobody notified again.
    again = client.put(url, json={"score": 87.5, "feedback": "Bom trabalho, revisto."}, headers=auth)
    assert again.get_json()["notified"] is False and len(_jobs(db)) == 1
    grade = db.scalars(sa.select(Grade).where(Grade.activity_id == activity.id, Grade.student_id == student.id)).one()
    assert grade.feedback == "Bom trabalho, revisto." and grade.graded_by == teacher.id

    changed = client.put(url, json={"score": 90}, headers=auth)
    assert changed.get_json()["notified"] is True and len(_jobs(db)) == 2
    assert len({j.payload["graded_at"] for j in _jobs(db)}) == 2  # each change is its own notification


@pytest.mark.parametrize("body, field", [
    ({"score": 101}, "score"), ({"score": -1}, "score"), ({"score": 9.999}, "score"), ({"score": "abc"}, "score"),
    ({"score": True}, "score"), ({}, "score"), ({"score": None}, "score"), ({"score": 5, "feedback": 3}, "feedback"),
    ({"score": 5, "feedback": "x" * 5001}, "feedback"), ({"score": 5, "grade": 1}, "grade"),
    ({"score": "NaN"}, "score"), ({"score": "1e400"}, "score"),
])
def test_bad_grades_are_400s_naming_the_field(client, db, setting, body, field):
    auth = factories.login(client, setting["teacher"])
    response = client.put(f"/api/activities/{setting['activity'].id}/grades/{setting['students'][0].id}",
                          json=body, headers=auth)
    assert response.status_code == 400 and response.get_json()["field"] == field, response.get_json()
    assert _jobs(db) == []


def test_who_may_grade(client, db, setting):
    activity, student = setting["activity"], setting["students"][0]
    url = f"/api/activities/{activity.id}/grades/{student.id}"
    other_school_teacher = factories.user(db, factories.institution(db), "teacher")
    db.commit()
    assert client.put(url, json={"score": 5}).status_code == 401
    assert client.put(url, json={"score": 5}, headers=factories.login(client, setting["colleague"])).status_code == 404
    assert client.put(url, json={"score": 5},
                      headers=factories.login(client, other_school_teacher)).status_code == 404
    assert client.put(url, json={"score": 5}, headers=factories.login(client, setting["admin"])).status_code == 403
    assert client.put(url, json={"score": 5}, headers=factories.login(client, student)).status_code == 403
    teacher = factories.login(client, setting["teacher"])
    outsider = f"/api/activities/{activity.id}/grades/{setting['outsider'].id}"
    assert client.put(outsider, json={"score": 5}, headers=teacher).status_code == 404
    assert client.put(f"/api/activities/999999/grades/{student.id}", json={"score": 5}, headers=teacher).status_code == 404
    scheduled = _activity(db, setting["group"], status="scheduled")
    assert client.put(f"/api/activities/{scheduled.id}/grades/{student.id}", json={"score": 5},
                      headers=teacher).status_code == 409
    # A student of the class cannot even see a scheduled activity.
    assert client.put(f"/api/activities/{scheduled.id}/grades/{student.id}", json={"score": 5},
                      headers=factories.login(client, student)).status_code == 404
    assert _jobs(db) == []


def test_the_teachers_list_shows_each_students_submission_state(client, db, setting):
    activity, (a, b, c) = setting["activity"], setting["students"]
    late = Submission(activity_id=activity.id, student_id=b.id, body="texto", late=True)
    on_time = Submission(activity_id=activity.id, student_id=c.id, body="")
    db.add_all([late, on_time])
    db.flush()
    db.add_all([SubmissionFile(submission_id=on_time.id, key=f"k/{on_time.id}/1", filename="a.pdf",
                               content_type="application/pdf", state="verified"),
                SubmissionFile(submission_id=on_time.id, key=f"k/{on_time.id}/2", filename="b.pdf",
                               content_type="application/pdf", state="pending")])
    db.add(Grade(activity_id=activity.id, student_id=a.id, score=70, feedback="papel", graded_at=utcnow()))
    db.commit()
    auth = factories.login(client, setting["teacher"])
    response = client.get(f"/api/activities/{activity.id}/grades", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 3 and body["page"] == 1
    rows = {r["student"]["id"]: r for r in body["items"]}
    assert rows[a.id]["state"] == "graded" and rows[a.id]["grade"]["score"] == 70 and rows[a.id]["submission"] is None
    assert rows[b.id]["state"] == "late" and rows[b.id]["submission"]["has_text"] is True
    assert rows[c.id]["state"] == "submitted"
    assert rows[c.id]["submission"]["files"] == {"verified": 1, "pending": 1, "rejected": 0}
    assert client.get(f"/api/activities/{activity.id}/grades", headers=factories.login(client, a)).status_code == 403
    assert client.get(f"/api/activities/{activity.id}/grades",
                      headers=factories.login(client, setting["colleague"])).status_code == 404
    assert client.get(f"/api/activities/{activity.id}/grades?size=1000", headers=auth).status_code == 400


def test_a_student_sees_only_their_own_grades_and_attendance(client, db, setting):
    group, activity, (a, b, _) = setting["group"], setting["activity"], setting["students"]
    second = _activity(db, group, title="Lista 2")
    _activity(db, group, status="scheduled", title="Surpresa")  # not out yet: not listed
    db.add_all([Grade(activity_id=activity.id, student_id=a.id, score=8, feedback="ok", graded_at=utcnow()),
                Grade(activity_id=activity.id, student_id=b.id, score=3, feedback="SECRET", graded_at=utcnow()),
                Submission(activity_id=second.id, student_id=a.id, body="x")])
    one, two, three = (Lesson(class_id=group.id, held_on=date(2026, 3, d), topic=f"Aula {d}") for d in (2, 3, 4))
    db.add_all([one, two, three])
    db.flush()
    db.add_all([Attendance(lesson_id=one.id, student_id=a.id, present=True),
                Attendance(lesson_id=two.id, student_id=a.id, present=False),
                Attendance(lesson_id=one.id, student_id=b.id, present=False)])
    db.commit()

    response = client.get(f"/api/classes/{group.id}/my-grades", headers=factories.login(client, a))
    assert response.status_code == 200
    body = response.get_json()
    assert [i["activity"]["title"] for i in body["items"]] == ["Lista 1", "Lista 2"]
    first, later = body["items"]
    assert first["state"] == "graded" and first["grade"]["score"] == 8 and first["activity"]["link"] == \
        f"/activities/{activity.id}"
    assert later["state"] == "submitted" and later["grade"] is None
    assert body["graded"] == 1 and body["average"] == 8
    assert body["attendance"]["present"] == 1 and body["attendance"]["recorded"] == 2
    assert [lesson["present"] for lesson in body["attendance"]["lessons"]] == [True, False, None]
    assert "SECRET" not in response.get_data(as_text=True)

    assert client.get(f"/api/classes/{group.id}/my-grades",
                      headers=factories.login(client, setting["outsider"])).status_code == 404
    assert client.get(f"/api/classes/{group.id}/my-grades",
                      headers=factories.login(client, setting["teacher"])).status_code == 403
    assert client.get("/api/classes/999999/my-grades", headers=factories.login(client, a)).status_code == 404
