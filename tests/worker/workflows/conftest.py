"""Running seed workflows in-process: start, then deliver queued messages like sqsd until the
workflow is finished."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from core.jobs.outbox import flush
from core.models.jobs import Job
from core.models.orchestration import Effect, Workflow
from core.models.people import Institution, User
from core.models.school import Activity, Attendance, Enrollment, Grade, Lesson, SchoolClass
from core.seeding import seed_params, start_seed
from tests.sqsd import pump

FINISHED = ("succeeded", "compensated", "failed", "cancelled")


@pytest.fixture
def run_until_finished(worker_client, db, sqs, aws) -> Callable[[Workflow], Workflow]:
    def run(workflow: Workflow, timeout: float = 240) -> Workflow:
        deadline = time.monotonic() + timeout
        while True:
            pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=20)
            db.expire_all()
            current = db.get(Workflow, workflow.id)
            db.rollback()
            if current.state in FINISHED:
                return current
            assert time.monotonic() < deadline, f"workflow still {current.state}"

    return run


@pytest.fixture
def start(web_app, db) -> Callable[..., Workflow]:
    def start_(**raw: Any) -> Workflow:
        workflow = start_seed(db, seed_params({"name": "Escola Teste", "slug": "teste", **raw}))
        db.commit()
        flush(db, web_app.extensions["aula"].queue)
        return workflow

    return start_


@pytest.fixture
def seed(start, run_until_finished) -> Callable[..., Workflow]:
    def seed_(**raw: Any) -> Workflow:
        return run_until_finished(start(**raw))

    return seed_


def counts(db, slug: str) -> dict[str, int]:
    """Every row the seed writes for the institution `slug` (zeros once it is gone)."""
    school = db.scalar(sa.select(Institution.id).where(Institution.slug == slug))
    classes = sa.select(SchoolClass.id).where(SchoolClass.institution_id == school)
    lessons = sa.select(Lesson.id).where(Lesson.class_id.in_(classes))
    activities = sa.select(Activity.id).where(Activity.class_id.in_(classes))

    def count(model: type, *where: Any) -> int:
        return db.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    found = {
        "institutions": count(Institution, Institution.slug == slug),
        "markers": count(Effect, Effect.key == f"seed_institution:{slug}"),
        **{f"{role}s": count(User, User.institution_id == school, User.role == role)
           for role in ("admin", "teacher", "student")},
        "classes": count(SchoolClass, SchoolClass.institution_id == school),
        "enrollments": count(Enrollment, Enrollment.class_id.in_(classes)),
        "lessons": count(Lesson, Lesson.class_id.in_(classes)),
        "attendance": count(Attendance, Attendance.lesson_id.in_(lessons)),
        "activities": count(Activity, Activity.class_id.in_(classes)),
        "grades": count(Grade, Grade.activity_id.in_(activities)),
    }
    db.rollback()
    return found


def step_jobs(db, workflow: Workflow) -> list[Job]:
    jobs = db.scalars(sa.select(Job).where(Job.workflow_id == workflow.id).order_by(Job.created_at)).all()
    db.rollback()
    return list(jobs)


@pytest.fixture(autouse=True)
def hashes(monkeypatch) -> list[str]:
    """Password hashing is slow on purpose; here it is a fast (valid) hash, and the passwords
    hashed are recorded, to show the seed hashes once per role and never per user."""
    from werkzeug.security import generate_password_hash

    from worker.workflows.seed import _step

    hashed: list[str] = []

    def fast_hash(password: str) -> str:
        hashed.append(password)
        return generate_password_hash(password, method="pbkdf2:sha256:1")

    monkeypatch.setattr(_step, "hash_password", fast_hash)
    return hashed
