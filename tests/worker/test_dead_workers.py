"""A worker process that died mid-run: the gunicorn master's child_exit releases its claims
(worker/dead_workers.py), so sqsd's next delivery runs the job again at once instead of finding
it `running` under a live lease for minutes (make chaos, R2)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs import lifecycle
from core.jobs.outbox import envelope_for
from core.jobs.types import JOB_TYPES
from core.models import Job
from tests.sqsd import deliver
from worker import dead_workers


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def _claimed_by(db, job, pid: int) -> None:
    """What a worker killed mid-run leaves: claimed under a live lease by the process `pid`."""
    assert lifecycle.claim(db, job.id, JOB_TYPES["probe"], utcnow()) == 1
    db.execute(sa.update(Job).where(Job.id == job.id).values(claimed_by=dead_workers.claimer_of(pid)))
    db.commit()


def test_a_dead_workers_job_runs_again_at_the_next_delivery(worker_client, db, probe, make_job, dead_pid):
    job = make_job()
    _claimed_by(db, job, dead_pid)
    # Before the release: the redelivery finds the lease live and leaves the job alone.
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "not_claimed"

    with db.get_bind().connect() as connection:
        assert dead_workers.release_claims(connection, dead_pid) == 1

    response = deliver(worker_client, envelope_for(job).to_json(), receive_count=2)
    assert response.get_json()["outcome"] == "succeeded"
    db.expire_all()
    row = db.get(Job, job.id)
    assert (row.state, row.attempts, probe.runs) == ("succeeded", 2, 1)


def test_only_the_dead_pids_running_jobs_are_released(db, probe, make_job, dead_pid):
    mine, other, done = make_job(), make_job(), make_job()
    _claimed_by(db, mine, dead_pid)
    _claimed_by(db, other, dead_pid + 1)
    _claimed_by(db, done, dead_pid)
    assert lifecycle.succeed(db, done.id, 1, {"ok": True}, utcnow())
    db.commit()
    db.expire_all()
    leases = {j.id: db.get(Job, j.id).lease_expires_at for j in (mine, other)}

    with db.get_bind().connect() as connection:
        assert dead_workers.release_claims(connection, dead_pid) == 1
    db.expire_all()
    now = utcnow()
    # Expired for any instance within a minute of this clock (a skewed one, make chaos R7).
    assert db.get(Job, mine.id).lease_expires_at < now - dead_workers.CLOCK_MARGIN / 2
    assert db.get(Job, other.id).lease_expires_at == leases[other.id] > now
    assert (db.get(Job, done.id).state, db.get(Job, done.id).lease_expires_at) == ("succeeded", None)


def test_the_master_finds_the_database_as_the_app_does_and_never_raises(db, probe, make_job, dead_pid,
                                                                       database_url, monkeypatch):
    job = make_job()
    _claimed_by(db, job, dead_pid)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert dead_workers.release_dead_worker(dead_pid) == 1
    db.expire_all()
    assert db.get(Job, job.id).lease_expires_at < utcnow()

    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert dead_workers.release_dead_worker(dead_pid) == 0
