"""The steps of the `seed_institution` workflow (see the package's docstring), in their order."""
from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.db import utcnow
from core.jobs.workflows import SEED_INSTITUTION
from core.models.orchestration import Effect, Workflow
from core.models.people import Institution, User
from core.models.school import Activity, Attendance, Enrollment, Grade, Lesson, SchoolClass
from core.seeding import ACTIVITY_TITLES, ADMIN_NAME
from worker.context import JobContext
from worker.errors import PermanentJobError
from worker.workflows.registry import step
from worker.workflows.seed._step import PEOPLE_ROLES, Step, already_done, marker_key


@step(SEED_INSTITUTION, "institution")
def institution(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    session, params, plan = step.session, step.params, step.plan
    slug, domain = params["slug"], params["email_domain"]
    existing = session.scalar(sa.select(Institution.id).where(Institution.slug == slug))
    if existing is not None:
        marker = session.get(Effect, marker_key(slug))
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
        session.add(Effect(key=marker_key(slug), job_id=ctx.job.id, created_at=now,
                           detail={"workflow_id": str(workflow.id), "institution_id": school.id}))
        session.flush()
    except IntegrityError as exc:
        # Another seed took the slug or the address between the checks above and this insert.
        raise PermanentJobError(f"the slug {slug!r} or the address {plan.admin_email()} was taken meanwhile") from exc
    return {"institution_id": school.id, "admin_id": admin.id}


@step(SEED_INSTITUTION, "people")
def people(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    plan, iid = step.plan, step.institution_id
    result = {"teachers": plan.teachers, "students": plan.students}
    found = step.count(sa.select(User.id).where(User.institution_id == iid, User.role.in_(PEOPLE_ROLES)))
    if already_done(found, plan.teachers + plan.students, "teachers and students"):
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


@step(SEED_INSTITUTION, "classes")
def classes(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    plan, iid = step.plan, step.institution_id
    result = {"classes": len(plan.classes)}
    if already_done(step.count(step.classes()), len(plan.classes), "classes"):
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


@step(SEED_INSTITUTION, "enrollments")
def enrollments(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    plan = step.plan
    result = {"enrollments": plan.enrollment_rows}
    found = step.count(sa.select(Enrollment.id).where(Enrollment.class_id.in_(step.classes())))
    if already_done(found, plan.enrollment_rows, "enrollments"):
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


@step(SEED_INSTITUTION, "lessons")
def lessons(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    plan, slug = step.plan, step.params["slug"]
    lessons_count = len(plan.classes) * plan.lessons_per_class
    result = {"lessons": lessons_count, "attendance": plan.attendance_rows}
    if step.class_rows_done(Lesson, lessons_count, "lessons"):
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
    lesson_ids = step.ids_by_class_and(Lesson, Lesson.held_on)
    rows = []
    for c in plan.classes:
        rng = random.Random(f"{slug}:{c.code}:attendance")
        pupils = [students[plan.student_email(s)] for s in c.students]
        for held_on in dates:
            lesson_id = lesson_ids[(class_ids[c.code], held_on)]
            rows.extend({"lesson_id": lesson_id, "student_id": p, "present": rng.random() < 0.9} for p in pupils)
    step.insert(Attendance, rows, 25, 99, "attendance")
    return result


@step(SEED_INSTITUTION, "grades")
def grades(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    plan, slug = step.plan, step.params["slug"]
    activities_count = len(plan.classes) * plan.activities_per_class
    result = {"activities": activities_count, "grades": plan.grade_rows}
    if step.class_rows_done(Activity, activities_count, "activities"):
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
    activity_ids = step.ids_by_class_and(Activity, Activity.title)
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
