"""cron.yaml tasks: every URL reaches a handler; the relay and the stalled-job reclaim keep
accepted work from being lost."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import boto3
import sqlalchemy as sa
import yaml

from core.app import Services
from core.db import utcnow
from core.jobs.queue import SqsQueue
from core.models import Job
from tests import factories
from tests.sqsd import fire_task, pump

ROOT = Path(__file__).resolve().parents[2]


def _job(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def test_every_cron_yaml_url_reaches_a_handler(worker_client):
    tasks = yaml.safe_load((ROOT / "cron.yaml").read_text())["cron"]
    assert tasks
    for task in tasks:
        response = fire_task(worker_client, task["name"], task["url"])
        assert response.status_code == 200, (task, response.get_json())
        assert response.get_json()["task"] == task["url"].rsplit("/", 1)[1]


def test_an_unknown_task_url_is_404(worker_client):
    assert fire_task(worker_client, "nope", "/sqsd/tasks/nope").status_code == 404


def test_sqs_down_at_request_time_the_job_still_runs_once_sqs_is_back(
    web_app, client, worker_client, db, sqs, aws
):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, _ = factories.school_class(db, teacher, students=2)
    db.commit()
    services: Services = web_app.extensions["aula"]
    working_queue = services.queue
    # Nothing listens on port 1: every send fails fast, as when SQS is unreachable.
    dead = boto3.client("sqs", region_name="us-east-1", endpoint_url="http://127.0.0.1:1",
                        config=boto3.session.Config(connect_timeout=1, retries={"max_attempts": 1}))
    services.queue = SqsQueue(dead, working_queue.queue_url)
    try:
        response = client.post("/api/reports", json={"kind": "class_roster", "class_id": group.id, "format": "csv"},
                               headers=factories.login(client, teacher))
    finally:
        services.queue = working_queue
    assert response.status_code == 202, "accepted even though SQS is down"
    job_id = response.get_json()["job"]["id"]
    row = db.scalar(sa.select(Job))
    assert row.published_at is None
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == []  # nothing reached the queue

    relayed = fire_task(worker_client, "relay-outbox", "/sqsd/tasks/relay-outbox")
    assert relayed.get_json()["sent"] == 1
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    assert _job(db, row.id).state == "succeeded" and str(row.id) == job_id
    # Once sent, the relay leaves it alone.
    assert fire_task(worker_client, "relay-outbox", "/sqsd/tasks/relay-outbox").get_json()["sent"] == 0


def test_relay_waits_for_retries_beyond_the_sqs_delay_window(worker_client, db, probe, make_job):
    later, soon = make_job(), make_job()
    db.execute(sa.update(Job).where(Job.id == later.id).values(state="retrying", next_attempt_at=utcnow() + timedelta(hours=2)))
    db.execute(sa.update(Job).where(Job.id == soon.id).values(state="retrying", next_attempt_at=utcnow() + timedelta(minutes=5)))
    db.commit()
    assert fire_task(worker_client, "relay-outbox", "/sqsd/tasks/relay-outbox").get_json()["sent"] == 1
    assert _job(db, later.id).published_at is None
    assert _job(db, soon.id).published_at is not None


def test_a_job_whose_worker_died_is_reclaimed_and_finishes(worker_client, db, sqs, aws, probe, make_job):
    job = make_job()
    # As left by a worker killed mid-run: running, lease expired, its message already deleted.
    db.execute(sa.update(Job).where(Job.id == job.id).values(
        state="running", attempts=1, started_at=utcnow() - timedelta(minutes=10),
        lease_expires_at=utcnow() - timedelta(seconds=1), published_at=utcnow() - timedelta(minutes=10)))
    db.commit()
    result = fire_task(worker_client, "reclaim-stalled", "/sqsd/tasks/reclaim-stalled").get_json()
    assert result == {"task": "reclaim-stalled", "reclaimed": 1, "resent": 0, "sent": 1}
    assert _job(db, job.id).state == "retrying"
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    row = _job(db, job.id)
    assert (row.state, row.attempts, probe.runs) == ("succeeded", 2, 1)


def test_a_live_lease_is_not_reclaimed(worker_client, db, probe, make_job):
    job = make_job()
    db.execute(sa.update(Job).where(Job.id == job.id).values(
        state="running", attempts=1, lease_expires_at=utcnow() + timedelta(minutes=1)))
    db.commit()
    result = fire_task(worker_client, "reclaim-stalled", "/sqsd/tasks/reclaim-stalled").get_json()
    assert result["reclaimed"] == 0 and _job(db, job.id).state == "running"


def test_a_stalled_job_out_of_attempts_fails(worker_client, db, probe, make_job):
    job = make_job()
    db.execute(sa.update(Job).where(Job.id == job.id).values(
        state="running", attempts=3, lease_expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    fire_task(worker_client, "reclaim-stalled", "/sqsd/tasks/reclaim-stalled")
    row = _job(db, job.id)
    assert row.state == "failed" and row.finished_at is not None
    assert row.error == "gave up after 3 attempts: attempt 3 stopped reporting (lease expired); the worker was probably killed"


def test_overlapping_reclaims_requeue_a_job_once(worker_app, db, probe, make_job):
    job = make_job()
    db.execute(sa.update(Job).where(Job.id == job.id).values(
        state="running", attempts=1, lease_expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    from worker.tasks import reclaim_stalled

    services = worker_app.extensions["aula"]
    assert reclaim_stalled(services)["reclaimed"] + reclaim_stalled(services)["reclaimed"] == 1
