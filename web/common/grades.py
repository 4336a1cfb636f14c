"""Grading (issue 13, item 3), for the API and the pages: the teacher's list of an activity's
students with their submission state and grade, setting a grade, and a student's own grades and
attendance in a class.

A score is 0 to 100 with at most two decimals (grades.score is NUMERIC(5,2)); feedback is plain
text of at most FEEDBACK_MAX characters. Setting a grade that changes the score (or the first
grade) enqueues one `grade_posted` job in the same transaction (the outbox): it writes the
student's in-app notification and emails them per their preferences (worker/handlers/grades.py).
A change of feedback alone, or the same score again, notifies nobody.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import insert_or_ignore, utcnow
from core.jobs.outbox import new_job
from core.jobs.types import GRADE_POSTED, GradePostedPayload
from core.models import Activity, Attendance, Enrollment, Grade, Lesson, SchoolClass, Submission, SubmissionFile, User
from core.parsing import InputError
from web.common.dates import iso
from web.common.pagination import Page, PageRequest, paginate
from web.common.refusal import Refusal

SCORE_MIN, SCORE_MAX = 0, 100
FEEDBACK_MAX = 5000
#: A student's standing in an activity, as every list shows it.
STATES = ("not_submitted", "submitted", "late", "graded")
STATE_LABELS = {"not_submitted": "Not submitted", "submitted": "Submitted", "late": "Submitted late",
                "graded": "Graded"}


def parse_score(raw: Any, field: str = "score") -> float:
    """A score from JSON (a number) or a form (its text): 0..100, at most two decimals."""
    if isinstance(raw, bool) or raw is None or (isinstance(raw, str) and not raw.strip()):
        raise InputError(field, f"{field} is required: a number from {SCORE_MIN} to {SCORE_MAX}")
    if not isinstance(raw, int | float | str) or (isinstance(raw, str) and len(raw) > 20):
        raise InputError(field, f"{field} must be a number from {SCORE_MIN} to {SCORE_MAX}")
    try:
        value = Decimal(str(raw).strip().replace(",", "."))
    except InvalidOperation:
        raise InputError(field, f"{field} must be a number from {SCORE_MIN} to {SCORE_MAX}") from None
    if not value.is_finite() or not SCORE_MIN <= value <= SCORE_MAX:
        raise InputError(field, f"{field} must be a number from {SCORE_MIN} to {SCORE_MAX}")
    if value != value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP):
        raise InputError(field, f"{field} may have at most two decimals")
    return float(value)


def parse_feedback(raw: Any, field: str = "feedback") -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InputError(field, f"{field} must be text")
    if "\x00" in raw:
        raise InputError(field, f"{field} must not contain NUL characters")
    value = raw.replace("\r\n", "\n").strip()
    if len(value) > FEEDBACK_MAX:
        raise InputError(field, f"{field} is longer than {FEEDBACK_MAX} characters")
    return value


# --- who may grade ----------------------------------------------------------------------------

def visible_activity(session: Session, user: User, activity_id: int) -> Activity | None:
    """The activity if `user` may see it: its class's teacher (any status), an admin of the
    institution, or an enrolled student once it is published."""
    query = sa.select(Activity).join(SchoolClass, SchoolClass.id == Activity.class_id).where(
        Activity.id == activity_id, SchoolClass.institution_id == user.institution_id)
    if user.role == "teacher":
        query = query.where(SchoolClass.teacher_id == user.id)
    elif user.role == "student":
        query = query.where(Activity.status == "published", Activity.published_at.is_not(None),
                            Activity.class_id.in_(sa.select(Enrollment.class_id).where(Enrollment.student_id == user.id)))
    elif user.role != "admin":
        return None
    return session.scalar(query)


def gradable_activity(session: Session, user: User, activity_id: int) -> Activity:
    """The activity `user` grades: 404 if they cannot see it, 403 if they see it but do not
    teach its class, 409 while it is not out to the class."""
    activity = visible_activity(session, user, activity_id)
    if activity is None:
        raise Refusal(404, f"activity {activity_id} not found")
    if user.role != "teacher" or activity.school_class.teacher_id != user.id:
        raise Refusal(403, "only the class's teacher grades its activities")
    if activity.status != "published" or activity.published_at is None:
        raise Refusal(409, "this activity is not published, so there is nothing to grade", field="status")
    return activity


def enrolled_student(session: Session, activity: Activity, student_id: int) -> User:
    student = session.scalar(sa.select(User).join(Enrollment, Enrollment.student_id == User.id).where(
        Enrollment.class_id == activity.class_id, User.id == student_id))
    if student is None:
        raise Refusal(404, f"student {student_id} is not enrolled in this class")
    return student


# --- the teacher's list ------------------------------------------------------------------------

def grade_json(grade: Grade | None) -> dict[str, Any] | None:
    if grade is None:
        return None
    return {"score": float(grade.score), "feedback": grade.feedback or "", "graded_at": iso(grade.graded_at)}


def state_of(submission: Any | None, grade: Any | None) -> str:
    if grade is not None:
        return "graded"  # a teacher may grade work handed in on paper
    if submission is not None:
        return "late" if submission.late else "submitted"
    return "not_submitted"


def students_query(activity: Activity) -> sa.Select:
    """The class's students by name: the rows of the teacher's list, a page at a time."""
    return (sa.select(User).join(Enrollment, Enrollment.student_id == User.id)
            .where(Enrollment.class_id == activity.class_id).order_by(User.full_name, User.id))


def students_page(session: Session, activity: Activity, request: PageRequest) -> tuple[Page[Any], list[dict[str, Any]]]:
    """One page of the class's students with their submission, its files' states and their
    grade: four queries whatever the page size."""
    page = paginate(session, students_query(activity), request)
    return page, student_rows(session, activity, page.items)


def student_rows(session: Session, activity: Activity, students: list[User]) -> list[dict[str, Any]]:
    ids = [s.id for s in students]
    if not ids:
        return []
    submissions = {s.student_id: s for s in session.scalars(
        sa.select(Submission).where(Submission.activity_id == activity.id, Submission.student_id.in_(ids)))}
    files: dict[int, dict[str, int]] = {}
    if submissions:
        for submission_id, state, count in session.execute(
                sa.select(SubmissionFile.submission_id, SubmissionFile.state, sa.func.count())
                .where(SubmissionFile.submission_id.in_([s.id for s in submissions.values()]))
                .group_by(SubmissionFile.submission_id, SubmissionFile.state)):
            files.setdefault(submission_id, {})[state] = count
    grades = {g.student_id: g for g in session.scalars(
        sa.select(Grade).where(Grade.activity_id == activity.id, Grade.student_id.in_(ids)))}
    rows = []
    for student in students:
        submission, grade = submissions.get(student.id), grades.get(student.id)
        rows.append({
            "student": {"id": student.id, "full_name": student.full_name, "email": student.email},
            "state": state_of(submission, grade),
            "submission": None if submission is None else {
                "submitted_at": iso(submission.submitted_at), "updated_at": iso(submission.updated_at),
                "late": submission.late, "has_text": bool(submission.body),
                "files": {state: files.get(submission.id, {}).get(state, 0)
                          for state in ("verified", "pending", "rejected")},
            },
            "grade": grade_json(grade),
        })
    return rows


# --- grading ------------------------------------------------------------------------------------

def set_grade(session: Session, activity: Activity, student: User, teacher: User, score: float, feedback: str,
              now: datetime | None = None) -> tuple[Grade, bool]:
    """Insert or update the grade (the caller commits). Returns it and whether the student is
    notified: only when the score is new or changed, with one `grade_posted` job."""
    now = now or utcnow()
    inserted = insert_or_ignore(session, Grade, ["activity_id", "student_id"], activity_id=activity.id,
                                student_id=student.id, score=score, feedback=feedback, graded_at=now,
                                graded_by=teacher.id)
    query = sa.select(Grade).where(Grade.activity_id == activity.id, Grade.student_id == student.id)
    if session.get_bind().dialect.name == "postgresql":
        # Two saves of one grade at once take turns, so each sees the score the other left.
        query = query.with_for_update()
    grade = session.scalars(query.execution_options(populate_existing=True)).one()
    changed = inserted or float(grade.score) != score
    if not inserted:
        if changed:
            grade.graded_at = now
        grade.score, grade.feedback, grade.graded_by = score, feedback, teacher.id
    if changed:
        new_job(session, GRADE_POSTED, GradePostedPayload(activity_id=activity.id, student_id=student.id,
                                                          graded_at=iso(grade.graded_at)), owner_id=teacher.id)
    session.flush()
    return grade, changed


# --- a student's own grades ---------------------------------------------------------------------

def my_grades(session: Session, student: User, school_class: SchoolClass) -> dict[str, Any]:
    """One student's standing in every published activity of the class, and their attendance:
    nobody else's (the caller is the student)."""
    activities = session.scalars(
        sa.select(Activity).where(Activity.class_id == school_class.id, Activity.status == "published",
                                  Activity.published_at.is_not(None))
        .order_by(Activity.due_at.is_(None), Activity.due_at, Activity.published_at, Activity.id)).all()
    ids = [a.id for a in activities]
    submissions = {s.activity_id: s for s in session.scalars(
        sa.select(Submission).where(Submission.student_id == student.id, Submission.activity_id.in_(ids)))} if ids else {}
    grades = {g.activity_id: g for g in session.scalars(
        sa.select(Grade).where(Grade.student_id == student.id, Grade.activity_id.in_(ids)))} if ids else {}
    items = []
    for activity in activities:
        submission, grade = submissions.get(activity.id), grades.get(activity.id)
        items.append({
            "activity": {"id": activity.id, "title": activity.title, "due_at": iso(activity.due_at),
                         "link": f"/activities/{activity.id}"},
            "state": state_of(submission, grade),
            "submitted_at": iso(submission.submitted_at) if submission is not None else None,
            "grade": grade_json(grade),
        })
    scores = [float(g.score) for g in grades.values()]
    lessons = session.execute(
        sa.select(Lesson.id, Lesson.held_on, Lesson.topic, Attendance.present)
        .outerjoin(Attendance, sa.and_(Attendance.lesson_id == Lesson.id, Attendance.student_id == student.id))
        .where(Lesson.class_id == school_class.id).order_by(Lesson.held_on, Lesson.id)).all()
    attendance = [{"lesson_id": row.id, "held_on": row.held_on.isoformat(), "topic": row.topic,
                   # No row: nothing was recorded for this student that day (not counted either way).
                   "present": row.present} for row in lessons]
    recorded = [a for a in attendance if a["present"] is not None]
    return {
        "class": {"id": school_class.id, "code": school_class.code, "name": school_class.name},
        "items": items,
        "graded": len(scores),
        "average": round(sum(scores) / len(scores), 2) if scores else None,
        "attendance": {
            "lessons": attendance,
            "present": sum(1 for a in recorded if a["present"]),
            "recorded": len(recorded),
        },
    }
