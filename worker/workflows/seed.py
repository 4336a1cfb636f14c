"""The `seed_institution` workflow: an institution with demo data, one atomic step at a time.

Steps (core.jobs.workflows.SEED_INSTITUTION), each one transaction committed by the runner
together with the step's outcome and the job of the next step:

  institution   the institution, its admin, and a marker (an `effects` row) naming this workflow
  people        teachers and students (one password hash per role, not per user)
  classes       a core class and an elective per section of students
  enrollments   students into classes
  lessons       lessons of every class, attendance of every enrolled student
  grades        published activities of every class, a grade for every enrolled student

Everything is derived from the workflow's params (core.seeding.SeedPlan) and from rows found by
institution id, so the workflow context holds only the institution id and counts.

Idempotency: a step's writes commit only with its outcome, so a retried or redelivered step
starts from the state before it. Each step still checks for its rows first: none found, it
writes them; all found, it reports them without writing again; some other number, it stops
with a permanent error for an operator. The institution step refuses a slug that another
workflow (or anyone else) already holds, and an email domain already in use.

Compensations delete exactly what their step created, by institution id, children before
parents, in bulk; deleting what is already gone deletes nothing, so they are safe to re-run.
"""
from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.auth import hash_password
from core.db import utcnow
from core.jobs.errors import PermanentJobError
from core.models import (
    Activity, Attendance, Effect, Enrollment, Grade, Institution, Lesson, SchoolClass, User, Workflow,
)
from core.seeding import ACTIVITY_TITLES, ADMIN_NAME, PASSWORDS, WORKFLOW, SeedParamsError, SeedPlan, seed_params
from worker.context import JobContext
from worker.workflows import IMPLEMENTATIONS

CHUNK = 5_000  # rows per INSERT statement batch, with a progress point between batches
PEOPLE_ROLES = ("teacher", "student")


# -- helpers ---------------------------------------------------------------------------------

class _Step:
    """The session, the plan, and progress points of one step. (On SQLite, JobContext skips
    the progress points that come after the step's first write; see JobContext.progress.)"""

    def __init__(self, ctx: JobContext, workflow: Workflow):
        self.ctx, self.workflow, self.session = ctx, workflow, ctx.session
        # The initial password's hash rides along in the params but is not a seed parameter;
        # kept apart here so no step can hash from the filtered params and miss it.
        self.initial_password_hash: str | None = workflow.params.get("password_hash")
        try:
            self.params = seed_params({k: v for k, v in workflow.params.items() if k != "password_hash"})
        except SeedParamsError as exc:
            raise PermanentJobError(f"invalid seed parameters: {exc}") from exc
        self.plan = SeedPlan(self.params)

    @property
    def institution_id(self) -> int:
        found = (self.workflow.context or {}).get("institution", {}).get("institution_id")
        if found is None:
            raise PermanentJobError("the workflow context has no institution id (step 'institution' did not finish)")
        return found

    def progress(self, percent: int) -> None:
        self.ctx.progress(percent)

    def password_hash(self, role: str) -> str:
        """An institution started through the API brings its own initial password, hashed by the
        web tier (only the hash is stored); only the local demo uses the documented demo passwords."""
        return self.initial_password_hash or hash_password(PASSWORDS[role])

    def insert(self, model: type, rows: list[dict[str, Any]], start: int, end: int, what: str) -> None:
        for first in range(0, len(rows), CHUNK):
            try:
                self.session.execute(sa.insert(model), rows[first : first + CHUNK])
            except IntegrityError as exc:
                raise PermanentJobError(f"could not add the {what}: {exc.orig}") from exc
            self.progress(start + (end - start) * min(len(rows), first + CHUNK) // len(rows))

    def count(self, statement: sa.Select) -> int:
        return self.session.scalar(sa.select(sa.func.count()).select_from(statement.subquery())) or 0

    def classes(self) -> sa.Select:
        return sa.select(SchoolClass.id).where(SchoolClass.institution_id == self.institution_id)

    def ids_by(self, column: Any, key: Any, *where: Any) -> dict[Any, int]:
        return dict(self.session.execute(sa.select(key, column).where(*where)).all())

    def students_by_email(self) -> dict[str, int]:
        return self.ids_by(User.id, User.email, User.institution_id == self.institution_id, User.role == "student")

    def classes_by_code(self) -> dict[str, int]:
        return self.ids_by(SchoolClass.id, SchoolClass.code, SchoolClass.institution_id == self.institution_id)



def _already_done(found: int, expected: int, what: str) -> bool:
    """True if a previous run wrote all of it; False if none; a permanent error otherwise."""
    if found == 0:
        return False
    if found == expected:
        return True
    raise PermanentJobError(
        f"found {found} {what} of this institution where none or {expected} were expected; an operator must look"
    )


def _marker_key(slug: str) -> str:
    return f"{WORKFLOW}:{slug}"


def _deleted(session: Any, statement: Any) -> int:
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


# -- steps -----------------------------------------------------------------------------------

def institution(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    session, params, plan = step.session, step.params, step.plan
    slug, domain = params["slug"], params["email_domain"]
    existing = session.scalar(sa.select(Institution.id).where(Institution.slug == slug))
    if existing is not None:
        marker = session.get(Effect, _marker_key(slug))
        if marker is not None and marker.detail.get("workflow_id") == str(workflow.id):
            admin_id = session.scalar(sa.select(User.id).where(User.email == plan.admin_email()))
            return {"institution_id": existing, "admin_id": admin_id}
        raise PermanentJobError(f"an institution with the slug {slug!r} already exists; choose another slug")
    in_use = session.scalar(sa.select(User.email).where(User.email.like(f"%@{domain}")).limit(1))
    if in_use is not None:
        raise PermanentJobError(
            f"the email domain {domain!r} is already in use ({in_use}); choose another email_domain")
    step.progress(10)
    admin_hash = step.password_hash("admin")
    step.progress(50)

    now = utcnow()
    school = Institution(name=params["name"], slug=slug, created_at=now)
    session.add(school)
    try:
        session.flush()
        admin = User(institution_id=school.id, email=plan.admin_email(), full_name=ADMIN_NAME, role="admin",
                     password_hash=admin_hash, created_at=now)
        session.add(admin)
        session.add(Effect(key=_marker_key(slug), job_id=ctx.job.id, created_at=now,
                           detail={"workflow_id": str(workflow.id), "institution_id": school.id}))
        session.flush()
    except IntegrityError as exc:
        # Another seed took the slug or the address between the checks above and this insert.
        raise PermanentJobError(f"the slug {slug!r} or the address {plan.admin_email()} was taken meanwhile") from exc
    return {"institution_id": school.id, "admin_id": admin.id}


def people(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    plan, iid = step.plan, step.institution_id
    result = {"teachers": plan.teachers, "students": plan.students}
    found = step.count(sa.select(User.id).where(User.institution_id == iid, User.role.in_(PEOPLE_ROLES)))
    if _already_done(found, plan.teachers + plan.students, "teachers and students"):
        return result
    step.progress(5)
    teacher_hash, student_hash = step.password_hash("teacher"), step.password_hash("student")
    step.progress(15)
    now = utcnow()
    rows = [
        {"institution_id": iid, "email": plan.teacher_email(i), "full_name": plan.teacher_name(i), "role": "teacher",
         "password_hash": teacher_hash, "created_at": now}
        for i in range(plan.teachers)
    ] + [
        {"institution_id": iid, "email": plan.student_email(i), "full_name": plan.student_name(i), "role": "student",
         "password_hash": student_hash, "created_at": now}
        for i in range(plan.students)
    ]
    step.progress(20)
    step.insert(User, rows, 20, 99, "teachers and students")
    return result


def classes(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    plan, iid = step.plan, step.institution_id
    result = {"classes": len(plan.classes)}
    if _already_done(step.count(step.classes()), len(plan.classes), "classes"):
        return result
    teachers = step.ids_by(User.id, User.email, User.institution_id == iid, User.role == "teacher")
    now = utcnow()
    rows = [
        {"institution_id": iid, "teacher_id": teachers[plan.teacher_email(c.teacher)], "code": c.code,
         "name": c.name, "created_at": now}
        for c in plan.classes
    ]
    step.progress(20)
    step.insert(SchoolClass, rows, 20, 99, "classes")
    return result


def enrollments(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    plan = step.plan
    result = {"enrollments": plan.enrollment_rows}
    found = step.count(sa.select(Enrollment.id).where(Enrollment.class_id.in_(step.classes())))
    if _already_done(found, plan.enrollment_rows, "enrollments"):
        return result
    students, class_ids = step.students_by_email(), step.classes_by_code()
    now = utcnow()
    rows = [
        {"class_id": class_ids[c.code], "student_id": students[plan.student_email(s)], "enrolled_at": now}
        for c in plan.classes
        for s in c.students
    ]
    step.progress(20)
    step.insert(Enrollment, rows, 20, 99, "enrollments")
    return result


def lessons(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    plan, slug = step.plan, step.params["slug"]
    lessons_count = len(plan.classes) * plan.lessons_per_class
    result = {"lessons": lessons_count, "attendance": plan.attendance_rows}
    found = step.count(sa.select(Lesson.id).where(Lesson.class_id.in_(step.classes())))
    if _already_done(found, lessons_count, "lessons"):
        return result
    students, class_ids = step.students_by_email(), step.classes_by_code()
    # Weekly lessons up to the week the seed started: the same dates on every run of this step.
    last = workflow.created_at.date()
    dates = [last - timedelta(days=7 * (plan.lessons_per_class - 1 - i)) for i in range(plan.lessons_per_class)]
    step.progress(10)
    step.insert(Lesson, [
        {"class_id": class_ids[c.code], "held_on": held_on, "topic": f"Aula {i + 1}: {c.topics[i % len(c.topics)]}"}
        for c in plan.classes
        for i, held_on in enumerate(dates)
    ], 10, 20, "lessons")
    lesson_ids = dict(
        ((class_id, held_on), lesson_id)
        for lesson_id, class_id, held_on in step.session.execute(
            sa.select(Lesson.id, Lesson.class_id, Lesson.held_on).where(Lesson.class_id.in_(step.classes()))
        )
    )
    rows = []
    for c in plan.classes:
        rng = random.Random(f"{slug}:{c.code}:attendance")
        pupils = [students[plan.student_email(s)] for s in c.students]
        for held_on in dates:
            lesson_id = lesson_ids[(class_ids[c.code], held_on)]
            rows.extend({"lesson_id": lesson_id, "student_id": p, "present": rng.random() < 0.9} for p in pupils)
    step.insert(Attendance, rows, 25, 99, "attendance")
    return result


def grades(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    plan, slug = step.plan, step.params["slug"]
    activities_count = len(plan.classes) * plan.activities_per_class
    result = {"activities": activities_count, "grades": plan.grade_rows}
    found = step.count(sa.select(Activity.id).where(Activity.class_id.in_(step.classes())))
    if _already_done(found, activities_count, "activities"):
        return result
    students, class_ids = step.students_by_email(), step.classes_by_code()
    start = workflow.created_at
    titles = [f"{ACTIVITY_TITLES[j % len(ACTIVITY_TITLES)]} {j + 1}" for j in range(plan.activities_per_class)]
    step.progress(10)
    activity_rows = []
    for c in plan.classes:
        for j, title in enumerate(titles):
            due = start - timedelta(days=7 * (plan.activities_per_class - j)) + timedelta(hours=23)
            activity_rows.append({
                "class_id": class_ids[c.code], "title": title, "description": f"{c.subject}: {title.lower()}",
                "due_at": due, "published_at": due - timedelta(days=7), "created_at": due - timedelta(days=7),
            })
    step.insert(Activity, activity_rows, 10, 20, "activities")
    activity_ids = dict(
        ((class_id, title), activity_id)
        for activity_id, class_id, title in step.session.execute(
            sa.select(Activity.id, Activity.class_id, Activity.title).where(Activity.class_id.in_(step.classes()))
        )
    )
    rows = []
    for c in plan.classes:
        rng = random.Random(f"{slug}:{c.code}:grades")
        pupils = [students[plan.student_email(s)] for s in c.students]
        for title in titles:
            activity_id = activity_ids[(class_ids[c.code], title)]
            rows.extend({"activity_id": activity_id, "student_id": p, "score": round(rng.triangular(0, 10, 7.5), 1)}
                        for p in pupils)
    step.insert(Grade, rows, 25, 99, "grades")
    return result


# -- compensations ---------------------------------------------------------------------------

def undo_institution(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    session, iid = step.session, step.institution_id
    step.progress(10)
    admins = _deleted(session, sa.delete(User).where(User.institution_id == iid, User.role == "admin"))
    marker = session.get(Effect, _marker_key(step.params["slug"]))
    if marker is not None and marker.detail.get("workflow_id") == str(workflow.id):
        session.delete(marker)
    institutions = _deleted(session, sa.delete(Institution).where(Institution.id == iid))
    return {"deleted_admins": admins, "deleted_institutions": institutions}


def undo_people(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    step.progress(10)
    # Their tokens, jobs and notifications go with them (ON DELETE CASCADE).
    where = (User.institution_id == step.institution_id, User.role.in_(PEOPLE_ROLES))
    return {"deleted_people": _deleted(step.session, sa.delete(User).where(*where))}


def undo_classes(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    step.progress(10)
    return {"deleted_classes": _deleted(
        step.session, sa.delete(SchoolClass).where(SchoolClass.institution_id == step.institution_id))}


def undo_enrollments(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    step.progress(10)
    return {"deleted_enrollments": _deleted(
        step.session, sa.delete(Enrollment).where(Enrollment.class_id.in_(step.classes())))}


def undo_lessons(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    step.progress(10)
    lesson_ids = sa.select(Lesson.id).where(Lesson.class_id.in_(step.classes()))
    attendance = _deleted(step.session, sa.delete(Attendance).where(Attendance.lesson_id.in_(lesson_ids)))
    lessons_deleted = _deleted(step.session, sa.delete(Lesson).where(Lesson.class_id.in_(step.classes())))
    return {"deleted_attendance": attendance, "deleted_lessons": lessons_deleted}


def undo_grades(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = _Step(ctx, workflow)
    step.progress(10)
    activity_ids = sa.select(Activity.id).where(Activity.class_id.in_(step.classes()))
    grades_deleted = _deleted(step.session, sa.delete(Grade).where(Grade.activity_id.in_(activity_ids)))
    activities = _deleted(step.session, sa.delete(Activity).where(Activity.class_id.in_(step.classes())))
    return {"deleted_grades": grades_deleted, "deleted_activities": activities}


STEPS = {
    "institution": institution,
    "people": people,
    "classes": classes,
    "enrollments": enrollments,
    "lessons": lessons,
    "grades": grades,
}
UNDO = {
    "institution": undo_institution,
    "people": undo_people,
    "classes": undo_classes,
    "enrollments": undo_enrollments,
    "lessons": undo_lessons,
    "grades": undo_grades,
}
IMPLEMENTATIONS[WORKFLOW] = (STEPS, UNDO)
