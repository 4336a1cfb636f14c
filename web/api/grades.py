"""/api: grading (issue 13, item 3; web/common/grades.py holds the rules).

- `GET /api/activities/<id>/grades`: the class's teacher: every enrolled student with their
  submission state and grade. 404 for anyone who cannot see the activity, 403 for one who sees
  it but does not teach the class (an admin, a student).
- `PUT /api/activities/<id>/grades/<student_id>`: the teacher sets a score (0-100, two decimals)
  and feedback; the student is notified when the score is new or changed.
- `GET /api/classes/<id>/my-grades`: a student's own grades, submission states and attendance in
  a class they are enrolled in (404 otherwise; 403 for a teacher or admin, who have no grades).
"""
from __future__ import annotations

from flask import Blueprint, request

from core.app import json_error, services, session
from core.jobs.outbox import commit_and_send
from core.parsing import InputError, known_fields
from web.api.guard import current_user, json_body, login_required
from web.common.access import visible_class
from web.common.grades import (
    enrolled_student,
    gradable_activity,
    grade_json,
    my_grades,
    parse_feedback,
    parse_score,
    set_grade,
    state_of,
    students_page,
)
from web.common.pagination import PageRequest
from web.common.refusal import Refusal

bp = Blueprint("grades", __name__)


@bp.get("/activities/<int:activity_id>/grades")
@login_required
def activity_grades(activity_id: int):
    db = session()
    activity = gradable_activity(db, current_user(), activity_id)
    page, items = students_page(db, activity, PageRequest.from_args(request.args))
    return {"activity": {"id": activity.id, "title": activity.title}, "items": items, **page.meta()}


@bp.put("/activities/<int:activity_id>/grades/<int:student_id>")
@login_required
def put_grade(activity_id: int, student_id: int):
    db, user = session(), current_user()
    activity = gradable_activity(db, user, activity_id)
    student = enrolled_student(db, activity, student_id)
    body = json_body()
    if body is None:
        return json_error(400, 'send a JSON object {"score": 0-100, "feedback": "..."}')
    try:
        known_fields(body, ("score", "feedback"))
        score = parse_score(body.get("score"))
        feedback = parse_feedback(body.get("feedback"))
    except InputError as exc:
        return json_error(400, exc.message, field=exc.field)
    grade, notified = set_grade(db, activity, student, user, score, feedback)
    submission_state = state_of(None, grade)
    commit_and_send(db, services().queue)
    return {"student_id": student.id, "activity_id": activity.id, "state": submission_state,
            "grade": grade_json(grade), "notified": notified}


@bp.get("/classes/<int:class_id>/my-grades")
@login_required
def class_my_grades(class_id: int):
    db, user = session(), current_user()
    school_class = visible_class(db, user, class_id)
    if school_class is None:
        raise Refusal(404, f"class {class_id} not found")
    if user.role != "student":
        raise Refusal(403, "only students have grades; teachers see them at GET /api/activities/<id>/grades")
    return my_grades(db, user, school_class)
