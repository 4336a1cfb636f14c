"""Taking over a run whose lease expired counts as an attempt, and attempts are limited."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.db import utcnow
from core.jobs import lifecycle
from core.jobs.outbox import new_job
from core.jobs.contract import JobType
from core.jobs.types import ReportPayload
from core.models import Job

TWO_TRIES = JobType("report", ReportPayload, "Report", time_limit_seconds=60, max_attempts=2)
REPORT = {"kind": "class_roster", "class_id": 1}


def _row(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def test_an_expired_lease_is_taken_over_only_while_attempts_remain(db):
    job = new_job(db, "report", REPORT, owner_id=None)
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
