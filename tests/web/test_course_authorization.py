"""Every course endpoint (issue 13) refuses the people it is not for, without revealing what it
holds: a student of another class, another teacher of the institution, and anyone of another
institution get 404 for the class's activity, its submissions, files, grades and roster; an
admin of the institution gets 403 where their role may not act (they see the class). The
legitimate caller of each is checked too, so a table of 404s cannot pass by breaking a route."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import utcnow
from core.models import Activity, Submission, SubmissionFile
from core.submissions import upload_key
from tests import factories

OUTSIDERS = ("student_other_class", "teacher_a2", "teacher_b", "student_b", "admin_b")


@pytest.fixture
def world(db):
    a, b = factories.institution(db), factories.institution(db)
    teacher = factories.user(db, a, "teacher")
    group, (student,) = factories.school_class(db, teacher, students=1)
    teacher_a2 = factories.user(db, a, "teacher")
    _other_group, (student_other,) = factories.school_class(db, teacher_a2, students=1)
    now = utcnow()
    activity = Activity(class_id=group.id, title="Lista", published_at=now, status="published",
                        due_at=now + timedelta(days=2))
    db.add(activity)
    db.flush()
    submission = Submission(activity_id=activity.id, student_id=student.id, body="resposta")
    db.add(submission)
    db.flush()
    file = SubmissionFile(submission_id=submission.id, key=upload_key(activity.id, student.id, "a.txt"),
                          filename="a.txt", content_type="text/plain", state="verified", size=3)
    db.add(file)
    people = {"teacher": teacher, "student": student, "admin_a": factories.user(db, a, "admin"),
              "student_other_class": student_other, "teacher_a2": teacher_a2,
              "teacher_b": factories.user(db, b, "teacher"), "student_b": factories.user(db, b, "student"),
              "admin_b": factories.user(db, b, "admin")}
    db.commit()
    return {"people": people, "activity": activity, "class": group, "file": file}


# (method, path, json body, who may, the admin of the institution's answer)
def _calls(w):
    a, c, s, f = w["activity"].id, w["class"].id, w["people"]["student"].id, w["file"].id
    return [
        ("GET", f"/api/activities/{a}", None, "teacher", 403),
        ("PATCH", f"/api/activities/{a}", {"description": "x"}, "teacher", 404),
        ("POST", f"/api/activities/{a}/unpublish", None, "teacher", 404),
        ("POST", f"/api/activities/{a}/uploads", {"filename": "a.pdf"}, "student", 403),
        ("GET", f"/api/activities/{a}/submission", None, "student", 200),
        ("PUT", f"/api/activities/{a}/submission", {"body": "nova"}, "student", 403),
        ("GET", f"/api/activities/{a}/submissions", None, "teacher", 403),
        ("POST", f"/api/activities/{a}/submissions/zip", None, "teacher", 403),
        ("GET", f"/api/submission-files/{f}/download", None, "teacher", 404),
        ("GET", f"/api/activities/{a}/grades", None, "teacher", 403),
        ("PUT", f"/api/activities/{a}/grades/{s}", {"score": 7}, "teacher", 403),
        ("GET", f"/api/classes/{c}/my-grades", None, "student", 403),
        ("POST", f"/api/classes/{c}/roster-imports", {"csv": "name,email\nAna,ana@example.test\n", "dry_run": True},
         "teacher", 202),
    ]


def _call(client, person, method, path, body):
    return client.open(path, method=method, json=body, headers=factories.login(client, person))


@pytest.mark.parametrize("index", range(13))
def test_each_course_endpoint_is_404_for_outsiders(client, world, index):
    method, path, body, owner, admin_status = _calls(world)[index]
    people = world["people"]
    for name in OUTSIDERS:
        response = _call(client, people[name], method, path, body)
        assert response.status_code == 404, (name, method, path, response.status_code, response.get_json())
        assert "error" in response.get_json()
    admin = _call(client, people["admin_a"], method, path, body)
    assert admin.status_code == admin_status, (method, path, admin.status_code, admin.get_json())
    allowed = _call(client, people[owner], method, path, body)
    assert allowed.status_code < 400 or allowed.status_code == 302, (owner, method, path, allowed.get_json())
