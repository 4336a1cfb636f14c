"""Pages: grading (issue 13, item 3). The teacher's list of an activity's students with their
submission state and a grade form each (`/activities/<id>/grades`); a student's own grades and
attendance in a class (`/classes/<id>/grades`). The rules are web/common/grades.py's, as for
the API."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.jobs.outbox import commit_and_send
from core.parsing import InputError
from web.common.access import visible_class
from web.common.grades import (
    FEEDBACK_MAX,
    STATE_LABELS,
    enrolled_student,
    gradable_activity,
    my_grades,
    parse_feedback,
    parse_score,
    set_grade,
    students_page,
)
from web.common.pagination import PageRequest
from web.common.refusal import found
from web.pages.blueprint import bp
from web.sessions import page_login_required


def _grades_page(activity_id: int, error: dict | None = None, status: int = 200):
    db = session()
    activity = gradable_activity(db, g.user, activity_id)
    page, rows = students_page(db, activity, PageRequest.from_args(request.args))
    return render_template(
        "grades/activity.html", title=f"Grades: {activity.title}", activity=activity,
        school_class=activity.school_class, page=page, rows=rows, labels=STATE_LABELS, feedback_max=FEEDBACK_MAX,
        error=error, saved=request.args.get("saved", type=int),
    ), status


@bp.get("/activities/<int:activity_id>/grades")
@page_login_required("teacher")
def activity_grades(activity_id: int):
    return _grades_page(activity_id)


@bp.post("/activities/<int:activity_id>/grades/<int:student_id>")
@page_login_required("teacher")
def save_grade(activity_id: int, student_id: int):
    db = session()
    activity = gradable_activity(db, g.user, activity_id)
    student = enrolled_student(db, activity, student_id)
    try:
        score = parse_score(request.form.get("score"))
        feedback = parse_feedback(request.form.get("feedback", ""))
    except InputError as exc:
        return _grades_page(activity_id, {"student_id": student.id, "field": exc.field, "message": exc.message,
                                          "score": request.form.get("score", "")[:20]}, 400)
    set_grade(db, activity, student, g.user, score, feedback)
    commit_and_send(db, services().queue)
    page = request.args.get("page", type=int)
    return redirect(url_for("pages.activity_grades", activity_id=activity.id, saved=student.id,
                            **({"page": page} if page and page > 1 else {})) + f"#student-{student.id}")


@bp.get("/classes/<int:class_id>/grades")
@page_login_required("student")
def my_class_grades(class_id: int):
    db = session()
    school_class = found(visible_class(db, g.user, class_id), "You are not in that class.")
    grades = my_grades(db, g.user, school_class)
    return render_template("grades/mine.html", title=f"My grades: {school_class.code}", school_class=school_class,
                           grades=grades, labels=STATE_LABELS)
