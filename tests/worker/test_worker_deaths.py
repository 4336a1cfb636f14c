"""A job whose worker keeps dying (its lease expires mid-run, attempt after attempt) is not
claimed for ever: past its job type's max attempts the next delivery fails it, honestly, and
its batch moves on as after any failure."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs import lifecycle
from core.jobs.batches import start_batch
from core.jobs.contract import JobType
from core.jobs.outbox import envelope_for
from core.jobs.types import JOB_TYPES
from core.models import Batch, Job
from tests.sqsd import deliver, pump
from tests.worker.conftest import ProbePayload, register

MORTAL = JobType("mortal", ProbePayload, "Mortal", time_limit_seconds=30, max_attempts=2)


@pytest.fixture
def mortal_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    runs: list[str] = []
    register(monkeypatch, MORTAL, lambda ctx: runs.append(str(ctx.job.id)) or {"ok": True})
    return runs


def _die(db, job_id, attempt: int) -> None:
    """What a worker killed mid-run leaves: claimed, then silent until its lease expires."""
    assert lifecycle.claim(db, job_id, MORTAL, utcnow()) == attempt
    db.execute(sa.update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()


def test_past_max_attempts_a_dead_workers_job_fails_and_its_batch_moves_on(worker_client, db, sqs, aws, probe,
                                                                           mortal_runs):
    batch = start_batch(db, owner_id=None, parent_job_id=None, description="test",
                        children=[(JOB_TYPES["probe"], ProbePayload(n=1)), (MORTAL, ProbePayload(n=2))],
                        followup=(JOB_TYPES["probe"], ProbePayload(note="done")))
    db.commit()
    children = {job.type: job for job in db.scalars(sa.select(Job).where(Job.batch_id == batch.id))}
    assert deliver(worker_client, envelope_for(children["probe"]).to_json()).get_json()["outcome"] == "succeeded"
    mortal = children[MORTAL.name]
    _die(db, mortal.id, 1)
    _die(db, mortal.id, 2)

    # sqsd delivers the message again (nobody answered 200): a third claim is not allowed.
    response = deliver(worker_client, envelope_for(mortal).to_json(), receive_count=3)
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "failed"
    db.expire_all()
    row = db.get(Job, mortal.id)
    assert (row.state, row.attempts, mortal_runs) == ("failed", 2, [])
    assert row.error == ("gave up after 2 attempts: attempt 2 stopped reporting (lease expired); "
                         "the worker was probably killed")
    assert row.finished_at is not None and row.lease_expires_at is None

    counted = db.get(Batch, batch.id)
    assert (counted.succeeded, counted.failed, counted.completed_at is not None) == (1, 1, True)
    # The follow-up was enqueued with the failure and sent right away.
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    db.expire_all()
    followup = db.get(Job, db.get(Batch, batch.id).followup_job_id)
    assert followup.state == "succeeded"
    assert followup.payload["summary"] == {"batch_id": str(batch.id), "total": 2, "succeeded": 1, "failed": 1}

    # A later copy of the message finds it finished.
    again = deliver(worker_client, envelope_for(mortal).to_json(), receive_count=4)
    assert (again.status_code, again.get_json()["outcome"], again.get_json()["state"]) == (200, "not_claimed", "failed")
    assert mortal_runs == []



def test_giving_up_on_a_dead_workers_job_counts_as_a_failure_in_the_job_metrics(worker_client, db, caplog,
                                                                              mortal_runs):
    """The failure-rate alarm reads JobFailed: a job that keeps killing its worker must count."""
    from core.jobs.outbox import new_job

    job = new_job(db, MORTAL, ProbePayload(), owner_id=None)
    db.commit()
    _die(db, job.id, 1)
    _die(db, job.id, 2)
    caplog.set_level(logging.INFO, logger="aula.metrics")
    assert deliver(worker_client, envelope_for(job).to_json(), receive_count=3).get_json()["outcome"] == "failed"
    [line] = [r.msg for r in caplog.records if r.name == "aula.metrics"]
    assert (line["JobType"], line["Outcome"], line["JobFailed"], line["JobRuns"]) == ("mortal", "failed", 1, 1)
    assert "JobDuration" not in line, "the dead run's length is unknown: no made-up duration"
    assert line["message"] == "job mortal failed (run time unknown)"
