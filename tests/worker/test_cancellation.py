"""Cancellation: a queued job stops at once; a running one at its next progress point."""
from __future__ import annotations

import threading

import sqlalchemy as sa

from core.jobs.outbox import envelope_for, new_job
from core.models import Job
from tests import factories
from tests.sqsd import deliver


def _owned_job(db, owner):
    job = new_job(db, "probe", {}, owner_id=owner.id)
    db.commit()
    return job


def _state(db, job_id) -> str:
    db.expire_all()
    return db.scalar(sa.select(Job.state).where(Job.id == job_id))


def test_cancelling_a_queued_job_ends_it_and_it_never_runs(client, worker_client, db, probe):
    owner = factories.user(db, factories.institution(db), "teacher")
    job = _owned_job(db, owner)
    response = client.post(f"/api/jobs/{job.id}/cancel", headers=factories.login(client, owner))
    assert response.status_code == 200 and response.get_json()["job"]["state"] == "cancelled"
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "not_claimed"
    assert probe.runs == 0


def test_a_running_job_stops_as_cancelled_at_its_next_progress_point(worker_app, client, db, probe):
    owner = factories.user(db, factories.institution(db), "teacher")
    job = _owned_job(db, owner)
    started, asked = threading.Event(), threading.Event()

    def long_job(ctx):
        ctx.progress(10)
        started.set()
        asked.wait(timeout=20)
        ctx.progress(50)  # sees the cancel request here
        raise AssertionError("should have stopped at the progress point")

    probe.behaviour = long_job
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(
        deliver(worker_app.test_client(), envelope_for(job).to_json()).get_json()))
    runner.start()
    assert started.wait(timeout=20)
    response = client.post(f"/api/jobs/{job.id}/cancel", headers=factories.login(client, owner))
    assert response.status_code == 202 and response.get_json()["job"]["state"] == "running"
    asked.set()
    runner.join(timeout=30)
    assert result == {"outcome": "cancelled"}
    assert _state(db, job.id) == "cancelled"


def test_cancelling_is_for_the_owner_and_not_for_finished_jobs(client, worker_client, db, probe):
    school = factories.institution(db)
    owner, other = factories.user(db, school, "teacher"), factories.user(db, school, "teacher")
    job = _owned_job(db, owner)
    assert client.post(f"/api/jobs/{job.id}/cancel", headers=factories.login(client, other)).status_code == 404
    deliver(worker_client, envelope_for(job).to_json())
    finished = client.post(f"/api/jobs/{job.id}/cancel", headers=factories.login(client, owner))
    assert finished.status_code == 409 and finished.get_json()["state"] == "succeeded"
    assert _state(db, job.id) == "succeeded"
