"""job_attempts, kept by the triggers of migration 0006: each claim opens an attempt, each end
closes it with its outcome and error, and a run whose lease expired is closed as lease_expired
by whatever took the job from it (the reclaim, a new claim, a delivery giving up). The
transitions are core.jobs.lifecycle's own."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs import lifecycle, stats
from core.jobs.contract import JobType
from core.jobs.outbox import new_job
from core.jobs.types import REPORT
from core.models import Job
from core.models.ops import JobAttempt

ROSTER = {"kind": "class_roster", "class_id": 1}


def queued(session: Session) -> Job:
    job = new_job(session, REPORT, ROSTER, owner_id=None)
    session.commit()
    return job


def history(session: Session, job: Job) -> list[tuple]:
    session.expire_all()
    return [(a.attempt, a.outcome, a.error) for a in stats.attempts(session, job.id)]


def row(session: Session, job: Job) -> Job:
    session.expire_all()
    return session.get(Job, job.id)


def test_claim_retry_claim_succeed(session):
    job = queued(session)
    assert stats.attempts(session, job.id) == [] and stats.open_attempt(session, job.id) is None
    first_claim = utcnow() - timedelta(minutes=5)
    assert lifecycle.claim(session, job.id, REPORT, first_claim) == 1
    opened = stats.open_attempt(session, job.id)
    assert (opened.attempt, opened.started_at, opened.finished_at, opened.outcome) == (1, first_claim, None, None)

    assert lifecycle.schedule_retry(session, job.id, 1, "SES throttled", utcnow())
    session.commit()
    assert history(session, job) == [(1, "retrying", "SES throttled")]
    assert stats.open_attempt(session, job.id) is None
    retried = stats.attempts(session, job.id)[0]
    assert first_claim < retried.finished_at <= utcnow()  # a retry's end is the database's clock

    assert lifecycle.claim(session, job.id, REPORT, utcnow()) == 2
    second = stats.open_attempt(session, job.id)
    assert second.attempt == 2 and retried.finished_at <= second.started_at <= utcnow()
    finished_at = utcnow()
    assert lifecycle.succeed(session, job.id, 2, {"rows": 1}, finished_at)
    session.commit()
    assert history(session, job) == [(1, "retrying", "SES throttled"), (2, "succeeded", None)]
    attempts = stats.attempts(session, job.id)
    done = row(session, job)
    # The first attempt starts when the job did; a terminal end is the job's own finished_at.
    assert attempts[0].started_at == done.started_at == first_claim
    assert attempts[1].finished_at == done.finished_at == finished_at
    assert stats.open_attempt(session, job.id) is None


def test_a_reclaimed_lease_then_a_new_claim_that_succeeds(session):
    job = queued(session)
    claimed_at = utcnow() - timedelta(hours=1)
    assert lifecycle.claim(session, job.id, REPORT, claimed_at) == 1
    assert lifecycle.reclaim_stalled(session, {"report": REPORT}, utcnow()) == 1
    assert row(session, job).state == "retrying"
    assert history(session, job) == [(1, "lease_expired", lifecycle.lease_expired_error(1, gave_up=False))]

    assert lifecycle.claim(session, job.id, REPORT, utcnow()) == 2
    assert stats.open_attempt(session, job.id).attempt == 2
    assert lifecycle.succeed(session, job.id, 2, {}, utcnow())
    session.commit()
    assert [outcome for _, outcome, _ in history(session, job)] == ["lease_expired", "succeeded"]


def test_a_claim_that_takes_over_an_expired_run_closes_it(session):
    job = queued(session)
    claimed_at = utcnow() - timedelta(hours=1)
    assert lifecycle.claim(session, job.id, REPORT, claimed_at) == 1
    assert lifecycle.claim(session, job.id, REPORT, claimed_at + REPORT.lease * 2) == 2
    # The same wording as the reclaim's, so every expired run reads alike on the job's page.
    assert history(session, job) == [(1, "lease_expired", lifecycle.lease_expired_error(1, gave_up=False)),
                                     (2, None, None)]
    assert lifecycle.fail(session, job.id, 2, "the class is gone", utcnow())
    session.commit()
    assert history(session, job)[1] == (2, "failed", "the class is gone")


def test_out_of_attempts_after_expired_leases_the_job_fails_and_the_attempt_expired(session):
    two_tries = JobType("report", REPORT.payload, "Report", time_limit_seconds=60, max_attempts=2)
    job, reclaimed = queued(session), queued(session)
    start = utcnow() - timedelta(hours=1)
    for target in (job, reclaimed):
        lifecycle.claim(session, target.id, two_tries, start)
        lifecycle.claim(session, target.id, two_tries, start + two_tries.lease * 2)
    later = utcnow()
    assert lifecycle.give_up_expired(session, job.id, two_tries, later)  # a delivery on the last attempt
    session.commit()
    assert lifecycle.reclaim_stalled(session, {"report": two_tries}, later) == 1
    for target in (job, reclaimed):
        assert row(session, target).state == "failed"
        assert history(session, target) == [
            (1, "lease_expired", lifecycle.lease_expired_error(1, gave_up=False)),
            (2, "lease_expired", lifecycle.lease_expired_error(2, gave_up=True)),
        ]
        assert stats.attempts(session, target.id)[1].finished_at == row(session, target).finished_at == later


def test_cancels_and_a_permanent_failure(session):
    running, waiting, failing = queued(session), queued(session), queued(session)
    now = utcnow()
    attempt = lifecycle.claim(session, running.id, REPORT, now)
    assert lifecycle.request_cancel(session, running.id, now) == "cancelling"
    session.commit()
    assert history(session, running) == [(1, None, None)], "asking to cancel does not end the run"
    assert lifecycle.cancelled(session, running.id, attempt, utcnow())
    assert lifecycle.request_cancel(session, waiting.id, now) == "cancelled"
    lifecycle.claim(session, failing.id, REPORT, now)
    assert lifecycle.fail(session, failing.id, 1, "invalid payload: class_id", utcnow())
    session.commit()
    assert history(session, running) == [(1, "cancelled", "cancelled by its owner while running")]
    assert history(session, waiting) == [], "never claimed, never attempted"
    assert history(session, failing) == [(1, "failed", "invalid payload: class_id")]


def test_the_claim_names_its_worker_and_attempts_go_with_their_job(session):
    job = queued(session)
    # What the claim does once it records the worker (core/jobs/lifecycle.py: claimed_by).
    claimed = session.execute(
        sa.update(Job).where(Job.id == job.id, Job.state == "queued")
        .values(state="running", attempts=Job.attempts + 1, started_at=utcnow(), claimed_by="i-0abc/4242",
                lease_expires_at=utcnow() + REPORT.lease)
    ).rowcount
    session.commit()
    assert claimed == 1
    assert stats.open_attempt(session, job.id).worker == "i-0abc/4242"
    workers = stats.recent_workers(session, utcnow())
    assert [(w.worker, w.claims) for w in workers] == [("i-0abc/4242", 1)]
    assert stats.recent_workers(session, utcnow() + timedelta(hours=1)) == []

    session.execute(sa.delete(Job).where(Job.id == job.id))
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(JobAttempt)) == 0
