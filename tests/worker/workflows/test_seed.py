"""The `seed_institution` workflow end to end in-process: start it, deliver its messages to the
worker like sqsd, and check what it leaves in the database (or, after a failure, that it leaves
nothing)."""
from __future__ import annotations

import json
import os
import time

import pytest
import sqlalchemy as sa

from core import demo
from core.__main__ import main as cli
from core.db import utcnow
from core.jobs.outbox import flush, new_job, relay
from core.jobs.workflows import SEED_INSTITUTION
from core.models.jobs import Job
from core.models.orchestration import Effect, Workflow
from core.models.people import Institution, User
from core.models.school import Activity, Attendance, Enrollment, Grade, Lesson, SchoolClass
from core.seeding import SeedPlan, seed_params
from tests import factories
from tests.sqsd import deliver, pump
from tests.worker.workflows.conftest import counts, step_jobs
from worker.errors import PermanentJobError
from worker.workflows import load, registry

STEPS = ["institution", "people", "classes", "enrollments", "lessons", "grades"]
load()  # the workflow modules register their steps
SEED_STEPS = registry.STEPS[SEED_INSTITUTION.name]  # what the worker runs for each step; some tests replace one


def expected_counts(**raw) -> dict[str, int]:
    plan = SeedPlan(seed_params({"name": "x", "slug": "x", **raw}))
    classes = len(plan.classes)
    return {
        "institutions": 1, "markers": 1, "admins": 1, "teachers": plan.teachers, "students": plan.students,
        "classes": classes, "enrollments": plan.enrollment_rows,
        "lessons": classes * plan.lessons_per_class, "attendance": plan.attendance_rows,
        "activities": classes * plan.activities_per_class, "grades": plan.grade_rows,
    }


NOTHING = dict.fromkeys(expected_counts(), 0)


def test_the_demo_seed_makes_the_readme_logins_and_classes(client, db, seed):
    workflow = seed(**{k: v for k, v in demo.DEMO_PARAMS.items() if k not in ("name", "slug")}, slug="demo")
    assert workflow.state == "succeeded", workflow.error
    assert [(j.step, j.state, j.attempts) for j in step_jobs(db, workflow)] == [(s, "succeeded", 1) for s in STEPS]
    assert counts(db, "demo") == {
        "institutions": 1, "markers": 1, "admins": 1, "teachers": 2, "students": 36, "classes": 2,
        "enrollments": 54, "lessons": 16, "attendance": 432, "activities": 6, "grades": 162,
    }
    rows = db.execute(
        sa.select(SchoolClass.code, SchoolClass.name, User.email, sa.func.count(Enrollment.id))
        .join(User, User.id == SchoolClass.teacher_id).join(Enrollment, Enrollment.class_id == SchoolClass.id)
        .group_by(SchoolClass.code, SchoolClass.name, User.email).order_by(SchoolClass.code)
    ).all()
    assert [tuple(r) for r in rows] == [("HIS-201", "História do Brasil", "teacher2@aula.local", 18),
                                        ("MAT-101", "Álgebra I", "teacher@aula.local", 36)]
    assert db.scalar(sa.select(User.full_name).where(User.email == "student01@aula.local")) == "Ana Silva"
    for login in demo.DEMO_LOGINS + (demo.DemoLogin("student", "student36@aula.local", "aula-student"),):
        response = client.post("/api/login", json={"email": login.email, "password": login.password})
        assert response.status_code == 200, login
        assert response.get_json()["user"]["role"] == login.role
    # The context carries ids and counts for later steps, not thousands of ids.
    assert len(json.dumps(workflow.context)) < 600
    assert workflow.context["institution"]["institution_id"] == db.scalar(
        sa.select(Institution.id).where(Institution.slug == "demo"))


def test_sizes_follow_the_params_and_every_enrolled_student_has_attendance_and_grades(db, seed):
    params = {"students": 95, "teachers": 4, "class_size": 20, "lessons_per_class": 3, "activities_per_class": 2}
    workflow = seed(**params)
    assert workflow.state == "succeeded", workflow.error
    found = counts(db, "teste")
    assert found == expected_counts(**params)
    # 95 students in round(95 / 20) = 5 sections of 19: a core class of 19 and an elective of 10 each.
    assert found["classes"] == 10 and found["enrollments"] == 5 * (19 + 10)
    assert found["attendance"] == 3 * 145 and found["grades"] == 2 * 145
    assert {e for (e,) in db.execute(sa.select(User.email).where(User.role == "teacher"))} == {
        "teacher@teste.aula.local", "teacher2@teste.aula.local", "teacher3@teste.aula.local",
        "teacher4@teste.aula.local"}

    enrolled = sa.select(Enrollment.class_id, Enrollment.student_id)
    attended = sa.select(Lesson.class_id, Attendance.student_id).join(Lesson, Lesson.id == Attendance.lesson_id)
    graded = (sa.select(Activity.class_id, Grade.student_id)
              .join(Activity, Activity.id == Grade.activity_id))
    assert set(db.execute(attended)) == set(db.execute(enrolled))
    assert set(db.execute(graded)) == set(db.execute(enrolled))
    low, high = db.execute(sa.select(sa.func.min(Grade.score), sa.func.max(Grade.score))).one()
    assert 0 <= low < high <= 10
    published = db.scalars(sa.select(Activity.published_at)).all()
    assert all(p is not None and p < utcnow() for p in published)


def test_the_seed_is_deterministic(db, seed):
    def snapshot():
        found = (
            db.execute(sa.select(User.email, User.full_name, User.role).order_by(User.email)).all(),
            db.execute(sa.select(SchoolClass.code, SchoolClass.name, User.email)
                       .join(User, User.id == SchoolClass.teacher_id).order_by(SchoolClass.code)).all(),
            db.execute(sa.select(User.email, Activity.title, Grade.score).join(User, User.id == Grade.student_id)
                       .join(Activity, Activity.id == Grade.activity_id).order_by(User.email, Activity.title)).all(),
            db.execute(sa.select(User.email, Lesson.topic, Attendance.present)
                       .join(User, User.id == Attendance.student_id).join(Lesson, Lesson.id == Attendance.lesson_id)
                       .order_by(User.email, Lesson.topic)).all(),
        )
        db.rollback()
        return found

    assert seed(students=40).state == "succeeded"
    first = snapshot()
    assert 0 < sum(present for (_, _, present) in first[3]) < len(first[3])  # somebody missed a lesson
    assert len({score for (_, _, score) in first[2]}) > 10
    # Remove it all (children first) and seed the same params again: the same data comes back.
    school = db.scalar(sa.select(Institution.id).where(Institution.slug == "teste"))
    classes = sa.select(SchoolClass.id).where(SchoolClass.institution_id == school)
    for statement in (
        sa.delete(Grade).where(Grade.activity_id.in_(sa.select(Activity.id).where(Activity.class_id.in_(classes)))),
        sa.delete(Attendance).where(Attendance.lesson_id.in_(sa.select(Lesson.id).where(Lesson.class_id.in_(classes)))),
        sa.delete(Activity).where(Activity.class_id.in_(classes)),
        sa.delete(Lesson).where(Lesson.class_id.in_(classes)),
        sa.delete(Enrollment).where(Enrollment.class_id.in_(classes)),
        sa.delete(SchoolClass).where(SchoolClass.institution_id == school),
        sa.delete(User).where(User.institution_id == school),
        sa.delete(Effect),
        sa.delete(Institution).where(Institution.id == school),
    ):
        db.execute(statement.execution_options(synchronize_session=False))
    db.commit()
    assert seed(students=40).state == "succeeded"
    assert snapshot() == first


@pytest.mark.parametrize("failing", STEPS)
def test_a_permanent_failure_at_any_step_undoes_the_earlier_steps_and_leaves_nothing(
    db, seed, monkeypatch, failing
):
    def fail(ctx, workflow):
        raise PermanentJobError(f"injected failure at {failing}")

    monkeypatch.setitem(SEED_STEPS, failing, fail)
    workflow = seed(students=40)
    assert workflow.state == "compensated", workflow.error
    assert workflow.error == f"step '{failing}' failed: injected failure at {failing}"
    assert counts(db, "teste") == NOTHING
    assert db.scalar(sa.select(sa.func.count()).select_from(User).where(User.email.like("%@teste.aula.local"))) == 0

    done = STEPS[: STEPS.index(failing)]
    jobs = [(j.step, j.state) for j in step_jobs(db, workflow)]
    assert jobs == [(s, "succeeded") for s in done] + [(failing, "failed")] + [
        ("undo:" + s, "succeeded") for s in reversed(done)]


def test_compensations_are_safe_to_run_again(web_app, db, seed, run_until_finished, monkeypatch):
    monkeypatch.setitem(SEED_STEPS, "grades", lambda ctx, wf: (_ for _ in ()).throw(PermanentJobError("no")))
    workflow = seed(students=40)
    assert workflow.state == "compensated" and counts(db, "teste") == NOTHING
    # A stray second run of every compensation (e.g. an operator re-enqueued them) deletes nothing.
    strays = [new_job(db, "workflow_step", {"workflow": workflow.name, "step": "undo:" + s}, None,
                      workflow_id=workflow.id, step="undo:" + s) for s in reversed(STEPS[:-1])]
    db.commit()
    flush(db, web_app.extensions["aula"].queue)
    run_until_finished(workflow)
    for job in strays:
        db.refresh(job)
        assert job.state == "succeeded", job.error
        assert not any(job.result.values()), job.result
    assert db.get(Workflow, workflow.id).state == "compensated"


def test_a_slug_that_is_taken_fails_at_the_first_step_and_touches_nothing(db, seed):
    first = seed(students=40)
    assert first.state == "succeeded"
    before = counts(db, "teste")
    second = seed(students=60, email_domain="other.test")
    assert second.state == "compensated"
    assert second.error == ("step 'institution' failed: an institution with the slug 'teste' already exists; "
                            "choose another slug")
    assert counts(db, "teste") == before
    assert [(j.step, j.state) for j in step_jobs(db, second)] == [("institution", "failed")]


def test_an_email_domain_in_use_fails_readably(db, seed):
    school = factories.institution(db)
    db.add(User(institution_id=school.id, email="someone@taken.test", full_name="X", role="admin",
                password_hash="x"))
    db.commit()
    workflow = seed(students=40, email_domain="taken.test")
    assert workflow.state == "compensated"
    assert "the email domain 'taken.test' is already in use (someone@taken.test)" in workflow.error
    assert counts(db, "teste") == NOTHING


def test_a_duplicate_delivery_of_every_step_message_inserts_nothing_twice(db, start, sqs, aws, worker_client):
    workflow = start(students=40)
    outcomes = []
    for _ in range(30):
        messages = sqs.receive_message(QueueUrl=aws["SQS_QUEUE_URL"], MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        for message in messages:
            for copy in range(2):  # sqsd delivering the same message twice (at-least-once)
                response = deliver(worker_client, message["Body"], message["MessageId"], receive_count=copy + 1)
                assert response.status_code == 200
                outcomes.append(response.get_json()["outcome"])
            sqs.delete_message(QueueUrl=aws["SQS_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"])
    assert outcomes == ["succeeded", "not_claimed"] * len(STEPS)
    db.expire_all()
    assert db.get(Workflow, workflow.id).state == "succeeded"
    assert counts(db, "teste") == expected_counts(students=40)


def test_a_step_retried_after_a_crash_starts_from_a_clean_slate(
    web_app, db, start, run_until_finished, monkeypatch, sqs, aws, worker_client
):
    real, runs = SEED_STEPS["lessons"], []

    def crash_after_writing(ctx, workflow):
        result = real(ctx, workflow)  # writes every lesson and attendance row...
        runs.append(ctx.attempt)
        if len(runs) == 1:
            raise ConnectionError("worker lost the database mid-step")  # ...then the transaction is lost
        return result

    monkeypatch.setitem(SEED_STEPS, "lessons", crash_after_writing)
    workflow = start(students=40)
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=20)  # until the retry's delayed message
    db.expire_all()
    assert db.get(Workflow, workflow.id).state == "running"  # the lessons step waits for its retry (backoff)
    job = db.scalar(sa.select(Job).where(Job.workflow_id == workflow.id, Job.step == "lessons"))
    assert job.state == "retrying" and job.attempts == 1
    assert counts(db, "teste")["lessons"] == 0  # the first attempt's rows were rolled back
    # Make the retry due now, and let the relay send it.
    db.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=utcnow(), published_at=None))
    db.commit()
    relay(db, web_app.extensions["aula"].queue)
    workflow = run_until_finished(workflow)
    assert workflow.state == "succeeded" and runs == [1, 2]
    assert counts(db, "teste") == expected_counts(students=40)


def test_a_step_run_again_over_its_own_rows_writes_nothing(web_app, db, seed, run_until_finished):
    workflow = seed(students=40)
    assert workflow.state == "succeeded"
    before = counts(db, "teste")
    strays = [new_job(db, "workflow_step", {"workflow": workflow.name, "step": s}, None, workflow_id=workflow.id,
                      step=s) for s in STEPS]
    db.commit()
    flush(db, web_app.extensions["aula"].queue)
    run_until_finished(workflow)
    for job in strays:
        db.refresh(job)
        assert job.state == "succeeded", job.error
    assert counts(db, "teste") == before
    assert db.get(Workflow, workflow.id).state == "succeeded"


def test_rows_that_do_not_match_the_plan_stop_the_step_for_an_operator(db, seed, monkeypatch):
    real = SEED_STEPS["classes"]

    def classes_plus_one(ctx, workflow):
        result = real(ctx, workflow)
        ctx.session.add(Lesson(class_id=ctx.session.scalar(sa.select(SchoolClass.id).limit(1)),
                               held_on=utcnow().date(), topic="added by hand"))
        return result

    monkeypatch.setitem(SEED_STEPS, "classes", classes_plus_one)
    workflow = seed(students=40)
    assert workflow.state == "compensated"
    assert "step 'lessons' failed: found 1 lessons of this institution where none or 16 were expected" in workflow.error


def test_the_demo_seed_starts_once_and_reports_when_ready(db, web_app, run_until_finished):
    assert demo.demo_status(db) == ("missing", None)
    outcome, workflow = demo.start_demo_seed(db)
    assert outcome == "started" and workflow.params == seed_params(demo.DEMO_PARAMS)
    assert demo.start_demo_seed(db) == ("running", workflow)  # make run again while it runs: no second seed
    assert demo.demo_status(db) == ("seeding", None)
    relay(db, web_app.extensions["aula"].queue)  # what the sqsd process does once the queue exists
    assert run_until_finished(workflow).state == "succeeded"
    assert demo.demo_status(db) == ("ready", None)
    assert demo.start_demo_seed(db) == ("present", None)
    assert db.scalar(sa.select(sa.func.count()).select_from(Workflow)) == 1


def test_a_failed_demo_seed_is_reported(db, web_app, run_until_finished, monkeypatch):
    monkeypatch.setitem(SEED_STEPS, "people", lambda ctx, wf: (_ for _ in ()).throw(PermanentJobError("x")))
    _, workflow = demo.start_demo_seed(db)
    relay(db, web_app.extensions["aula"].queue)
    run_until_finished(workflow)
    status, reason = demo.demo_status(db)
    assert status == "failed" and "compensated: step 'people' failed: x" in reason
    assert demo.start_demo_seed(db)[0] == "started"  # the next make run tries again


def test_the_cli_starts_a_seed_of_any_size(database_url, aws, db, run_until_finished, monkeypatch, capsys):
    for key, value in {"APP_ROLE": "web", "SECRET_KEY": "test-secret-key-0123456789abcdefghij", "DATABASE_URL": database_url,
                       "AWS_REGION": "us-east-1", **aws}.items():
        monkeypatch.setenv(key, value)
    args = ["seed", "--slug", "big", "--name", "Big School", "--students", "45", "--lessons-per-class", "2"]
    # Outside the local stack the public demo passwords are never given out.
    assert cli(args) == 2 and "SEED_INITIAL_PASSWORD" in capsys.readouterr().err
    assert db.scalar(sa.select(sa.func.count(Workflow.id))) == 0
    monkeypatch.setenv("SEED_INITIAL_PASSWORD", "too-short")
    assert cli(args) == 2 and "SEED_INITIAL_PASSWORD must be at least 10 characters" in capsys.readouterr().err
    assert db.scalar(sa.select(sa.func.count(Workflow.id))) == 0
    monkeypatch.setenv("SEED_INITIAL_PASSWORD", "an-operator-secret")
    assert cli(args) == 0
    workflow = db.scalars(sa.select(Workflow)).one()
    assert workflow.params["students"] == 45 and workflow.params["lessons_per_class"] == 2
    assert run_until_finished(workflow).state == "succeeded"
    assert counts(db, "big") == expected_counts(students=45, lessons_per_class=2)
    assert str(workflow.id) in capsys.readouterr().out
    from werkzeug.security import check_password_hash

    for email in ("admin@big.aula.local", "teacher@big.aula.local", "student01@big.aula.local"):
        stored = db.scalar(sa.select(User.password_hash).where(User.email == email))
        assert stored and check_password_hash(stored, "an-operator-secret"), email
    db.rollback()

    assert cli(["seed", "--slug", "big", "--name", "Again"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli(["seed", "--slug", "Not A Slug", "--name", "X"]) == 2
    assert "slug" in capsys.readouterr().err
    assert cli(["seed", "--slug", "huge", "--name", "X", "--students", "20001"]) == 2
    assert cli(["seed-demo"]) == 2  # public demo passwords: refused outside the local stack
    assert "local stack" in capsys.readouterr().err
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "false")
    assert cli(["seed-demo"]) == 0
    assert "demo data on its way" in capsys.readouterr().out
    assert cli(["seed-demo"]) == 0
    assert "still running" in capsys.readouterr().out


# The largest seed allowed (20,000 students) takes about a minute; SEED_BENCHMARK_MAX=1 runs it too.
@pytest.mark.parametrize("students", [2000] + ([20_000] if os.environ.get("SEED_BENCHMARK_MAX") else []))
def test_a_large_institution_seeds_through_the_workflow(db, seed, students, database_url, hashes):
    started = time.monotonic()
    workflow = seed(students=students, slug="big", name="Big School")
    total = time.monotonic() - started
    assert workflow.state == "succeeded", workflow.error
    assert counts(db, "big") == expected_counts(students=students)
    assert sorted(hashes) == ["aula-admin", "aula-student", "aula-teacher"]  # one hash per role, not per user
    jobs = step_jobs(db, workflow)
    backend = sa.engine.make_url(database_url).get_backend_name()
    print(f"\n[seed benchmark] {students} students on {backend}: {total:.2f} s through the queue")
    for job in jobs:
        seconds = (job.finished_at - job.started_at).total_seconds()
        print(f"[seed benchmark]   {job.step:<12} {seconds:7.2f} s  {job.result}")
        assert seconds < 300  # the workflow_step time limit (informative: it would have failed otherwise)
