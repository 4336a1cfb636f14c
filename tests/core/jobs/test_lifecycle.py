"""Claims and fencing: a run that lost its lease cannot overwrite the run that replaced it; taking
over a run whose lease expired counts as an attempt, and attempts are limited."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.db import utcnow
from core.jobs import lifecycle
from core.jobs.contract import JobType
from core.jobs.outbox import new_job
from core.jobs.types import REPORT, ReportPayload
from core.models import Job


def test_a_reclaimed_run_cannot_record_its_outcome(db):
    job = new_job(db, "report", {"kind": "class_roster", "class_id": 1}, owner_id=None)
    db.commit()
    now = utcnow()
    first = lifecycle.claim(db, job.id, REPORT, now)
    assert first == 1
    assert lifecycle.claim(db, job.id, REPORT, now) is None, "a live lease blocks a second claim"
    later = now + REPORT.lease + timedelta(seconds=1)
    second = lifecycle.claim(db, job.id, REPORT, later)
    assert second == 2
    assert lifecycle.succeed(db, job.id, first, {"from": "first"}, later) is False
    assert lifecycle.heartbeat(db, job.id, first, 50, REPORT.lease, later) is False
    assert lifecycle.succeed(db, job.id, second, {"from": "second"}, later) is True
    db.commit()
    db.expire_all()
    assert db.get(Job, job.id).result == {"from": "second"}


def test_terminal_states_never_change(db):
    job = new_job(db, "report", {"kind": "class_roster", "class_id": 1}, owner_id=None)
    db.commit()
    attempt = lifecycle.claim(db, job.id, REPORT, utcnow())
    lifecycle.fail(db, job.id, attempt, "boom", utcnow())
    db.commit()
    far = utcnow() + timedelta(days=1)
    assert lifecycle.claim(db, job.id, REPORT, far) is None
    assert lifecycle.succeed(db, job.id, attempt, {}, far) is False
    assert lifecycle.schedule_retry(db, job.id, attempt, "x", far) is False
    db.commit()
    db.expire_all()
    assert db.scalar(sa.select(Job.state).where(Job.id == job.id)) == "failed"


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    import random

    rng = random.Random(7)
    delays = [REPORT.backoff(n, rng).total_seconds() for n in range(1, 12)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(REPORT.backoff_cap_seconds, REPORT.backoff_base_seconds * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 3) for d in delays}) == len(delays), "jitter makes each delay differ"


TWO_TRIES = JobType("report", ReportPayload, "Report", time_limit_seconds=60, max_attempts=2)
ROSTER = {"kind": "class_roster", "class_id": 1}


def _row(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def test_an_expired_lease_is_taken_over_only_while_attempts_remain(db):
    job = new_job(db, "report", ROSTER, owner_id=None)
    db.commit()
    now = utcnow()
    assert lifecycle.claim(db, job.id, TWO_TRIES, now) == 1
    assert lifecycle.give_up_expired(db, job.id, TWO_TRIES, now) is False, "a live lease, attempts left"
    later = now + TWO_TRIES.lease + timedelta(seconds=1)
    assert lifecycle.give_up_expired(db, job.id, TWO_TRIES, later) is False, "expired, but one attempt left"
    assert lifecycle.claim(db, job.id, TWO_TRIES, later) == 2, "the dead run is taken over"

    much_later = later + TWO_TRIES.lease + timedelta(seconds=1)
    assert lifecycle.claim(db, job.id, TWO_TRIES, much_later) is None, "no third attempt"
    assert (_row(db, job.id).state, _row(db, job.id).attempts) == ("running", 2)
    assert lifecycle.give_up_expired(db, job.id, TWO_TRIES, much_later) is True
    db.commit()
    row = _row(db, job.id)
    assert (row.state, row.attempts, row.lease_expires_at, row.finished_at) == ("failed", 2, None, much_later)
    assert row.error == "gave up after 2 attempts: attempt 2 stopped reporting (lease expired); " \
                        "the worker was probably killed"
    # Only once: a second delivery (or the reclaim task) finds it finished.
    assert lifecycle.give_up_expired(db, job.id, TWO_TRIES, much_later) is False
    assert db.scalar(sa.select(Job.state).where(Job.id == job.id)) == "failed"
