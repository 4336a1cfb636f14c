"""The compensations of the `seed_institution` workflow: each deletes exactly what its step
created, by institution id, children before parents, in bulk; deleting what is already gone
deletes nothing, so they are safe to run again."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.jobs.workflows import SEED_INSTITUTION
from core.models.orchestration import Effect, Workflow
from core.models.people import Institution, User
from core.models.school import Activity, Attendance, Enrollment, Grade, Lesson, SchoolClass
from worker.context import JobContext
from worker.workflows.registry import compensation
from worker.workflows.seed._step import PEOPLE_ROLES, Step, deleted, marker_key


@compensation(SEED_INSTITUTION, "institution")
def undo_institution(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    session, iid = step.session, step.institution_id
    step.progress(10)
    admins = deleted(session, sa.delete(User).where(User.institution_id == iid, User.role == "admin"))
    marker = session.get(Effect, marker_key(step.params["slug"]))
    if marker is not None and marker.detail.get("workflow_id") == str(workflow.id):
        session.delete(marker)
    institutions = deleted(session, sa.delete(Institution).where(Institution.id == iid))
    return {"deleted_admins": admins, "deleted_institutions": institutions}


@compensation(SEED_INSTITUTION, "people")
def undo_people(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    step.progress(10)
    # Their tokens, jobs and notifications go with them (ON DELETE CASCADE).
    where = (User.institution_id == step.institution_id, User.role.in_(PEOPLE_ROLES))
    return {"deleted_people": deleted(step.session, sa.delete(User).where(*where))}


@compensation(SEED_INSTITUTION, "classes")
def undo_classes(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    step.progress(10)
    return {"deleted_classes": deleted(
        step.session, sa.delete(SchoolClass).where(SchoolClass.institution_id == step.institution_id))}


@compensation(SEED_INSTITUTION, "enrollments")
def undo_enrollments(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    step.progress(10)
    return {"deleted_enrollments": deleted(
        step.session, sa.delete(Enrollment).where(Enrollment.class_id.in_(step.classes())))}


@compensation(SEED_INSTITUTION, "lessons")
def undo_lessons(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    step.progress(10)
    attendance, lessons_deleted = step.delete_class_rows(Lesson, Attendance, Attendance.lesson_id)
    return {"deleted_attendance": attendance, "deleted_lessons": lessons_deleted}


@compensation(SEED_INSTITUTION, "grades")
def undo_grades(ctx: JobContext, workflow: Workflow) -> dict[str, Any]:
    step = Step(ctx, workflow)
    step.progress(10)
    grades_deleted, activities = step.delete_class_rows(Activity, Grade, Grade.activity_id)
    return {"deleted_grades": grades_deleted, "deleted_activities": activities}
