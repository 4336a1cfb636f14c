"""/api/ops/periodic and /ops/periodic: every cron.yaml task with schedule, next run, last runs and
lease; "run now" (operators; audited) as a coalescing periodic_run job that goes through the task's
lease; unknown tasks 404; who may see and do what."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from croniter import croniter

from core.db import utcnow
from core.jobs.periodic import PERIODIC_TASKS
from core.models import Job
from core.models.ops import AuditEntry, PeriodicRun
from infra.ebconfig import load_cron
from tests import factories
from tests.deploy.files import ROOT
from tests.sqsd import pump
from tests.web.pages.helpers import csrf_token, page_login
from web.common.ops import periodic
from worker import leases

URL = "/api/ops/periodic"


def test_the_schedules_are_cron_yamls_as_the_deploy_checks_read_it():
    assert periodic.schedules() == {task.name: task.schedule for task in load_cron(ROOT)}


def test_the_next_run_follows_the_schedule_in_utc():
    at = datetime(2026, 12, 2, 3, 16, 30, tzinfo=UTC)
    assert periodic.next_run("17 3 * * *", at) == datetime(2026, 12, 2, 3, 17, tzinfo=UTC)
    assert periodic.next_run("*/5 * * * *", at) == datetime(2026, 12, 2, 3, 20, tzinfo=UTC)
    assert periodic.next_run(None, at) is None


def test_who_may_look_and_who_may_run(client, staff):
    assert client.get(URL).status_code == 401
    for person in (staff.student_a, staff.teacher_a):
        assert client.get(URL, headers=factories.login(client, person)).status_code == 403
    admin = factories.login(client, staff.admin_a)
    answer = client.get(URL, headers=admin).get_json()
    assert answer["can_run"] is False and [t["name"] for t in answer["items"]] == list(PERIODIC_TASKS)
    assert client.post(URL + "/relay-outbox/run", headers=admin).status_code == 403
    assert client.post(URL + "/relay-outbox/run", headers=factories.login(client, staff.teacher_a)).status_code == 403


def test_each_task_shows_schedule_next_run_last_run_and_lease(client, db, staff):
    now = utcnow()
    db.add_all([
        PeriodicRun(task="retention", trigger="cron", holder="i-1/7#a", started_at=now - timedelta(hours=2),
                    finished_at=now - timedelta(hours=2) + timedelta(seconds=3), outcome="succeeded",
                    counts={"jobs": 4}),
        PeriodicRun(task="retention", trigger="cron", started_at=now - timedelta(hours=1),
                    finished_at=now - timedelta(hours=1), outcome="skipped", counts={"skipped": "held"}),
    ])
    db.commit()
    leases.acquire(db, "retention", "i-2/9#b", timedelta(minutes=30), now)
    auth = factories.login(client, staff.operator)
    before = utcnow()
    body = client.get(URL, headers=auth).get_json()
    after = utcnow()
    assert body["can_run"] is True
    task = {t["name"]: t for t in body["items"]}["retention"]
    assert task["schedule"] == "17 3 * * *" and task["lease_seconds"] == 1800
    expected = {croniter("17 3 * * *", at).get_next(datetime) for at in (before, after)}
    assert datetime.fromisoformat(task["next_run_at"]) in expected
    assert task["last_run"]["outcome"] == "succeeded", "the last run that did something, not the skipped one"
    assert task["last_run"]["duration_ms"] == 3000 and task["last_run"]["counts"] == {"jobs": 4}
    assert [r["outcome"] for r in task["recent_runs"]] == ["skipped", "succeeded"]
    assert task["lease"]["held"] is True and task["lease"]["holder"] == "i-2/9#b"
    never = {t["name"]: t for t in body["items"]}["relay-outbox"]
    assert never["last_run"] is None and never["lease"] == {"held": False, "holder": None, "expires_at": None}


def test_a_run_without_an_end_is_running_while_its_holder_has_the_lease_else_lost(client, db, staff):
    now = utcnow()
    db.add_all([PeriodicRun(task="retention", holder="dead#1", started_at=now - timedelta(hours=3)),
                PeriodicRun(task="retention", holder="live#2", started_at=now - timedelta(minutes=1))])
    db.commit()
    leases.acquire(db, "retention", "live#2", timedelta(minutes=30), now)
    task = client.get(URL + "/retention", headers=factories.login(client, staff.operator)).get_json()
    assert [(r["holder"], r["outcome"]) for r in task["recent_runs"]] == [("live#2", "running"), ("dead#1", "lost")]


def test_an_admin_sees_what_ran_and_when_but_not_the_platforms_insides(client, db, staff):
    now = utcnow()
    db.add(PeriodicRun(task="retention", holder="i-1/7#a", started_at=now, finished_at=now, outcome="failed",
                       counts={"jobs": 4}, error="OperationalError: server closed the connection"))
    db.commit()
    leases.acquire(db, "retention", "i-1/7#b", timedelta(minutes=30), now)
    task = client.get(URL + "/retention", headers=factories.login(client, staff.admin_a)).get_json()
    run = task["last_run"]
    assert (run["outcome"], run["holder"], run["counts"]) == ("failed", None, None)
    assert "OperationalError" not in run["error"] and task["lease"] == {**task["lease"], "held": True, "holder": None}


def test_the_list_is_unchanged_while_the_tasks_are(client, staff):
    auth = factories.login(client, staff.operator)
    first = client.get(URL, headers=auth)
    assert client.get(URL, headers={**auth, "If-None-Match": first.headers["ETag"]}).status_code == 304


def test_one_task_and_an_unknown_one(client, staff):
    auth = factories.login(client, staff.admin_a)
    assert client.get(URL + "/retention", headers=auth).get_json()["name"] == "retention"
    assert client.get(URL + "/nope", headers=auth).status_code == 404
    operator = factories.login(client, staff.operator)
    assert client.post(URL + "/nope/run", headers=operator).status_code == 404


def test_run_now_coalesces_runs_through_the_lease_and_is_audited(client, db, sqs, aws, staff, worker_client):
    auth = factories.login(client, staff.operator)
    first = client.post(URL + "/reclaim-stalled/run", headers=auth)
    assert first.status_code == 202 and first.get_json()["created"] is True
    job_id = first.get_json()["job"]["id"]
    other_operator = factories.login(client, _second_operator(db))
    second = client.post(URL + "/reclaim-stalled/run", headers=other_operator).get_json()
    assert second["created"] is False and second["job"]["id"] == job_id, "joins the open one, whoever asks"
    listed = {t["name"]: t for t in client.get(URL, headers=auth).get_json()["items"]}
    assert listed["reclaim-stalled"]["run_now_job"]["id"] == job_id
    assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.type == "periodic_run")) == 1

    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    db.expire_all()
    job = db.scalar(sa.select(Job).where(Job.type == "periodic_run"))
    assert job.state == "succeeded" and job.owner_id == staff.operator.id and job.origin == "periodic"
    (run,) = db.scalars(sa.select(PeriodicRun).where(PeriodicRun.task == "reclaim-stalled"))
    assert (run.trigger, run.requested_by, run.outcome) == ("manual", staff.operator.id, "succeeded")
    entries = db.scalars(sa.select(AuditEntry).where(AuditEntry.action == "periodic.run_now")
                         .order_by(AuditEntry.id)).all()
    assert [(e.target, e.count, e.detail["coalesced"]) for e in entries] == [
        ("task:reclaim-stalled", 1, False), ("task:reclaim-stalled", 0, True)]
    third = client.post(URL + "/reclaim-stalled/run", headers=auth).get_json()
    assert third["created"] is True, "once the run finished, a new one"


def test_run_now_while_a_cron_run_holds_the_lease_is_skipped(client, db, sqs, aws, staff, worker_client):
    leases.acquire(db, "relay-outbox", "cron#1", timedelta(minutes=5), utcnow())
    client.post(URL + "/relay-outbox/run", headers=factories.login(client, staff.operator))
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    db.expire_all()
    job = db.scalar(sa.select(Job).where(Job.type == "periodic_run"))
    assert job.state == "succeeded" and job.result["skipped"]
    last = client.get(URL + "/relay-outbox", headers=factories.login(client, staff.operator)).get_json()
    assert last["recent_runs"][0]["outcome"] == "skipped" and last["recent_runs"][0]["trigger"] == "manual"


def test_an_admin_never_sees_run_now_jobs_in_their_scope(client, db, staff):
    from web.common.ops.access import jobs_in_scope

    client.post(URL + "/retention/run", headers=factories.login(client, staff.operator))
    visible = db.scalars(sa.select(Job.id).where(Job.type == "periodic_run", jobs_in_scope(staff.admin_a))).all()
    assert visible == []


def _second_operator(db):
    from tests import factories_ops

    person = factories_ops.operator(db)
    db.commit()
    return person


def test_the_page_lists_the_tasks_and_runs_one_now(client, db, staff):
    page_login(client, staff.operator)
    html = client.get("/ops/periodic").get_data(as_text=True)
    for name in PERIODIC_TASKS:
        assert f'data-task="{name}"' in html
    assert "17 3 * * *" in html and "data-run-now" in html
    token = csrf_token(client, "/ops/periodic")
    answer = client.post("/ops/periodic/retention/run", data={"csrf_token": token})
    assert answer.status_code == 303
    assert "retention will run shortly" in client.get(answer.headers["Location"]).get_data(as_text=True)
    assert client.post("/ops/periodic/nope/run", data={"csrf_token": token}).status_code == 404


def test_the_page_for_an_admin_has_no_run_now_and_for_a_teacher_is_refused(client, staff):
    page_login(client, staff.admin_a)
    html = client.get("/ops/periodic").get_data(as_text=True)
    assert 'data-task="retention"' in html and "data-run-now" not in html
    token = csrf_token(client, "/ops/periodic")
    assert client.post("/ops/periodic/retention/run", data={"csrf_token": token}).status_code == 403
    other = client.application.test_client()
    page_login(other, staff.teacher_a)
    assert other.get("/ops/periodic").status_code == 403


def test_an_operators_view_of_the_tasks_matches_its_documented_schema(client, db, staff):
    from jsonschema import Draft202012Validator

    from web.api.openapi import openapi_document

    now = utcnow()
    db.add_all([PeriodicRun(task="retention", holder="h#1", started_at=now, finished_at=now, outcome="succeeded",
                            counts={"jobs": 1}, requested_by=staff.operator.id, trigger="manual"),
                PeriodicRun(task="retention", holder="h#2", started_at=now)])
    db.commit()
    auth = factories.login(client, staff.operator)
    client.post(URL + "/retention/run", headers=auth)
    body = client.get(URL + "/retention", headers=auth).get_json()
    assert body["run_now_job"] and body["recent_runs"][0]["outcome"] == "lost"
    schema = {"$ref": "#/components/schemas/OpsPeriodicTask", "components": openapi_document()["components"]}
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
