"""A database outage at the end of a run: the worker keeps trying to record the outcome while its
lease covers the run (worker/outages.py), so the job is retried as soon as the database is back,
instead of waiting minutes for its lease to expire (make chaos, R5)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.jobs import lifecycle
from core.jobs.outbox import envelope_for
from core.models import Job
from tests.sqsd import deliver
from worker import outages
from worker.errors import database_unavailable


def _down(statement: str = "UPDATE jobs") -> sa.exc.OperationalError:
    return sa.exc.OperationalError(statement, {}, Exception("server closed the connection unexpectedly"))


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outages, "RETRY_DELAYS", (0.01,))


def _failing(monkeypatch, name: str, times: int) -> dict:
    """lifecycle.<name> raises a database outage `times` times, then works."""
    real, calls = getattr(lifecycle, name), {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] <= times:
            raise _down()
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, name, flaky)
    return calls


def test_a_retry_is_recorded_once_the_database_answers_again(worker_client, db, probe, make_job, monkeypatch):
    def boom(_ctx):
        raise RuntimeError("the handler's dependency failed")

    probe.behaviour = boom
    calls = _failing(monkeypatch, "schedule_retry", 3)
    job = make_job()
    body = deliver(worker_client, envelope_for(job).to_json()).get_json()
    assert body["outcome"] == "retry_scheduled" and calls["n"] == 4
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.state == "retrying" and "dependency failed" in row.error


def test_a_success_that_could_not_commit_becomes_a_retry_not_a_lost_run(worker_client, db, probe, make_job,
                                                                      monkeypatch):
    probe.behaviour = lambda ctx: (ctx.session.get(Job, ctx.job.id), {"ok": True})[1]  # a handler that touched the session
    _failing(monkeypatch, "succeed", 1)
    job = make_job()
    body = deliver(worker_client, envelope_for(job).to_json()).get_json()
    assert body["outcome"] == "retry_scheduled"
    db.expire_all()
    assert db.get(Job, job.id).state == "retrying"


def test_past_the_lease_the_run_gives_up_and_the_lease_is_left_to_expire(worker_client, db, probe, make_job,
                                                                        monkeypatch):
    def boom(_ctx):
        raise RuntimeError("failed")

    probe.behaviour = boom
    monkeypatch.setattr(outages, "LEASE_MARGIN_SECONDS", 10_000.0)
    calls = _failing(monkeypatch, "schedule_retry", 100)
    job = make_job()
    # The app answers a database outage with 503: sqsd keeps the message and delivers it again.
    assert deliver(worker_client, envelope_for(job).to_json()).status_code == 503
    assert calls["n"] == 1
    db.expire_all()
    assert db.get(Job, job.id).state == "running"  # the reclaim takes it from here, as before


def test_only_the_database_being_unavailable_counts():
    assert database_unavailable(_down())
    assert not database_unavailable(sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not database_unavailable(RuntimeError("no"))
