"""job_counts and job_minutes, kept by the triggers of migration 0006, equal what counting the
job rows gives, after every way the code changes them: single and bulk inserts, each lifecycle
transition (through core.jobs.lifecycle itself), retention's deletes and cascades; on
PostgreSQL also under concurrent transitions from many connections."""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import make_engine, utcnow
from core.jobs import lifecycle, stats
from core.jobs.outbox import new_job, new_jobs
from core.jobs.types import CANARY, REPORT
from core.models import JOB_STATES, Job
from core.models.ops import COUNT_SHARDS, JobCount, JobMinute
from tests import factories
from worker import retention

ROSTER = {"kind": "class_roster", "class_id": 1}


def counted_rows(session: Session) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for job_type, state, n in session.execute(sa.select(Job.type, Job.state, sa.func.count()).group_by(Job.type, Job.state)):
        found.setdefault(job_type, {})[state] = n
    return found


def assert_counters_exact(session: Session) -> dict[str, dict[str, int]]:
    session.commit()
    real = counted_rows(session)
    assert stats.counts(session) == real
    by_state = Counter()
    for states in real.values():
        by_state.update(states)
    assert stats.totals(session) == {state: by_state[state] for state in JOB_STATES}
    return real


def canaries(session: Session, count: int, **values) -> list[uuid.UUID]:
    return new_jobs(session, [{"type": CANARY, "payload": {"note": "count me"}, "owner_id": None, **values}
                              for _ in range(count)])


def test_counters_follow_inserts_every_transition_and_deletes(session):
    now = utcnow()
    long_ago = now - timedelta(hours=2)
    assert assert_counters_exact(session) == {}
    reports = [new_job(session, REPORT, ROSTER, owner_id=None).id for _ in range(5)]
    canary_ids = canaries(session, 40)  # one bulk INSERT
    assert assert_counters_exact(session) == {"report": {"queued": 5}, "canary": {"queued": 40}}

    succeeded, failed, retried, cancelled_running, cancelled_queued = reports
    attempt = lifecycle.claim(session, succeeded, REPORT, now)
    assert_counters_exact(session)
    assert lifecycle.succeed(session, succeeded, attempt, {"rows": 3}, now)
    attempt = lifecycle.claim(session, failed, REPORT, now)
    assert lifecycle.fail(session, failed, attempt, "permanent", now)
    attempt = lifecycle.claim(session, retried, REPORT, now)
    assert lifecycle.schedule_retry(session, retried, attempt, "transient", now)
    assert assert_counters_exact(session)["report"] == {"succeeded": 1, "failed": 1, "retrying": 1, "queued": 2}
    assert lifecycle.claim(session, retried, REPORT, now) == 2  # a retry that is due
    attempt = lifecycle.claim(session, cancelled_running, REPORT, now)
    assert lifecycle.request_cancel(session, cancelled_running, now) == "cancelling"  # no state change
    assert_counters_exact(session)
    assert lifecycle.cancelled(session, cancelled_running, attempt, now)
    assert lifecycle.request_cancel(session, cancelled_queued, now) == "cancelled"
    assert assert_counters_exact(session)["report"] == {"succeeded": 1, "failed": 1, "running": 1, "cancelled": 2}

    # Runs whose worker died: reclaimed (retry, or fail when out of attempts or of an unknown
    # type), taken over by a claim, or given up by a delivery.
    reclaimed, out_of_attempts, unknown, taken_over = canary_ids[:4]
    for job_id in (reclaimed, out_of_attempts, unknown, taken_over):
        assert lifecycle.claim(session, job_id, CANARY, long_ago) == 1
    session.execute(sa.update(Job).where(Job.id == out_of_attempts).values(attempts=CANARY.max_attempts))
    session.commit()
    later = long_ago + timedelta(hours=1)
    lifecycle.reclaim_stalled(session, {"canary": CANARY}, later)  # also unknown's: it is a canary here
    assert assert_counters_exact(session)["canary"] == {"queued": 36, "retrying": 3, "failed": 1}
    assert lifecycle.claim(session, unknown, CANARY, later) == 2
    assert lifecycle.reclaim_stalled(session, {}, now) == 1
    assert lifecycle.claim(session, taken_over, CANARY, later) == 2
    assert lifecycle.claim(session, taken_over, CANARY, later + CANARY.lease * 2) == 3  # running -> running
    assert_counters_exact(session)
    assert lifecycle.give_up_expired(session, taken_over, CANARY, now)
    assert assert_counters_exact(session)["canary"] == {"queued": 36, "retrying": 1, "failed": 3}

    # Deletes: one by one, retention's chunks, and the cascade from a deleted owner.
    session.execute(sa.delete(Job).where(Job.id.in_(canary_ids[30:])))
    assert_counters_exact(session)
    school = factories.institution(session)
    owner = factories.user(session, school, "teacher")
    new_job(session, REPORT, ROSTER, owner_id=owner.id)
    canaries(session, 3, owner_id=owner.id)
    assert_counters_exact(session)
    deleted = retention.purge(session, now=now + timedelta(days=1), job_days=0, notification_days=30, chunk=2)
    assert deleted["jobs"] == 7  # every finished job, two at a time
    assert assert_counters_exact(session) == {"report": {"running": 1, "queued": 1},
                                              "canary": {"queued": 29, "retrying": 1}}
    session.delete(owner)
    assert assert_counters_exact(session) == {"report": {"running": 1}, "canary": {"queued": 26, "retrying": 1}}


def test_minutes_count_each_finish_once_with_the_successes_run_time(session):
    now = utcnow().replace(second=30, microsecond=0)
    minute = now.replace(second=0) - timedelta(minutes=3)
    ok, bad, dropped, reclaimed = (new_job(session, REPORT, ROSTER, owner_id=None).id for _ in range(4))
    session.commit()
    attempt = lifecycle.claim(session, ok, REPORT, minute - timedelta(seconds=90))
    assert lifecycle.succeed(session, ok, attempt, {}, minute + timedelta(seconds=5))
    attempt = lifecycle.claim(session, bad, REPORT, minute)
    assert lifecycle.fail(session, bad, attempt, "boom", minute + timedelta(seconds=50))
    assert lifecycle.request_cancel(session, dropped, minute + timedelta(minutes=1)) == "cancelled"
    lifecycle.claim(session, reclaimed, REPORT, minute - timedelta(hours=1))
    assert lifecycle.reclaim_stalled(session, {"report": REPORT}, now) == 1  # a retry is not a finish
    # Rows written finished (a bulk load) count in the minute they finished.
    canaries(session, 2, state="succeeded", started_at=minute - timedelta(seconds=1),
             finished_at=minute + timedelta(minutes=2))
    session.commit()

    hour = stats.last_hour(session, now)
    assert len(hour.buckets) == 60 and hour.buckets[-1] == now.replace(second=0) and hour.step == timedelta(minutes=1)
    nonzero = {(name, t.at): (t.succeeded, t.failed, t.cancelled, t.total_ms)
               for name, tallies in hour.by_type.items() for t in tallies if t.finished}
    assert nonzero == {
        ("report", minute): (1, 1, 0, 95_000),  # the successful attempt ran 95 s
        ("report", minute + timedelta(minutes=1)): (0, 0, 1, 0),
        ("canary", minute + timedelta(minutes=2)): (2, 0, 0, 2 * 121_000),
    }
    report = dict(zip(hour.buckets, hour.by_type["report"], strict=True))[minute]
    assert report.failure_rate == 0.5 and report.mean_ms == 95_000
    assert stats.last_hour(session, now, job_type="canary").by_type.keys() == {"canary"}

    day = stats.last_day(session, now)
    assert len(day.buckets) == 24 and day.step == timedelta(hours=1) and day.buckets[-1] == now.replace(minute=0, second=0)
    expected: dict = {}
    for at, finished in ((minute, (1, 1, 0)), (minute + timedelta(minutes=1), (0, 0, 1)),
                         (minute + timedelta(minutes=2), (2, 0, 0))):
        hour_start = at.replace(minute=0)
        expected[hour_start] = tuple(x + y for x, y in zip(expected.get(hour_start, (0, 0, 0)), finished, strict=True))
    assert {t.at: (t.succeeded, t.failed, t.cancelled) for t in day.overall() if t.finished} == expected
    # Both windows in one statement are the two read apart.
    assert stats.last_hour_and_day(session, now) == {"hour": hour, "day": day}
    assert stats.last_hour_and_day(session, now, job_type="canary")["day"] == stats.last_day(session, now, "canary")

    # History stays when the jobs go; retention trims it after 8 days.
    session.execute(sa.delete(Job))
    session.commit()
    assert sum(t.finished for t in stats.last_hour(session, now).overall()) == 5
    session.add_all([JobMinute(minute=minute - timedelta(days=9), type="report", succeeded=1),
                     JobMinute(minute=minute - timedelta(days=7), type="report", failed=1)])
    session.commit()
    assert stats.trim_minutes(session, now) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(JobMinute)) == 4


def test_counts_stay_exact_under_concurrent_transitions(session, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers are PostgreSQL's case (SQLite has one writer at a time)")
    per_thread, threads = 60, 8
    ids = canaries(session, per_thread * threads)
    session.commit()
    engine = make_engine(database_url)
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(mine: list[uuid.UUID]) -> None:
        try:
            with Session(engine) as own:
                start.wait()
                for n, job_id in enumerate(mine):
                    now = utcnow()
                    attempt = lifecycle.claim(own, job_id, CANARY, now)
                    if n % 4 == 0:
                        lifecycle.schedule_retry(own, job_id, attempt, "again", now)
                        own.commit()
                        attempt = lifecycle.claim(own, job_id, CANARY, utcnow())
                    if n % 3 == 0:
                        lifecycle.fail(own, job_id, attempt, "no", utcnow())
                    else:
                        lifecycle.succeed(own, job_id, attempt, {}, utcnow())
                    # Work for other types too, and rows arriving and leaving meanwhile.
                    new_job(own, REPORT, ROSTER, owner_id=None)
                    own.commit()
                    if n % 5 == 0:
                        own.execute(sa.delete(Job).where(Job.id == job_id))
                        own.commit()
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread's assert)
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(ids[k::threads],)) for k in range(threads)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        engine.dispose()
    assert errors == []
    outcomes = Counter("failed" if n % 3 == 0 else "succeeded" for n in range(per_thread) if n % 5 != 0)
    assert assert_counters_exact(session) == {"canary": {state: n * threads for state, n in outcomes.items()},
                                              "report": {"queued": threads * per_thread}}


def test_each_backend_counts_in_its_own_shard(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite counts in shard 0 only")
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            shard = conn.scalar(sa.text("SELECT pg_backend_pid()")) % COUNT_SHARDS
            job_id = uuid.uuid4()
            conn.execute(sa.insert(Job), [{"id": job_id, "type": CANARY.name, "payload": {}, "state": "queued",
                                           "attempts": 0, "progress": 0, "trace_id": job_id.hex,
                                           "created_at": utcnow()}])
            conn.commit()
            assert lifecycle.claim_run(conn, job_id, CANARY, utcnow()) is not None  # commits
            rows = conn.execute(sa.select(JobCount.state, JobCount.shard, JobCount.n)).all()
            assert sorted(rows) == [("queued", shard, 0), ("running", shard, 1)]
    finally:
        engine.dispose()
