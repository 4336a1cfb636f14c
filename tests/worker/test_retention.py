"""Retention deletes old finished records in bounded chunks and keeps everything else."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import new_job
from core.models import Job, Notification
from tests import factories
from worker.retention import purge


def test_old_finished_jobs_and_read_notifications_go_and_the_rest_stays(db):
    now = utcnow()
    person = factories.user(db, factories.institution(db), "student")
    names = ("old_done", "old_failed", "recent_done", "old_but_open", "old_running")
    jobs = {name: new_job(db, "report", {"kind": "class_roster", "class_id": n}, owner_id=person.id)
            for n, name in enumerate(names, start=1)}
    db.flush()
    old = now - timedelta(days=31)
    for name, state, finished in (("old_done", "succeeded", old), ("old_failed", "failed", old),
                                  ("recent_done", "succeeded", now - timedelta(days=1)),
                                  ("old_but_open", "queued", None), ("old_running", "running", None)):
        jobs[name].state, jobs[name].finished_at, jobs[name].created_at = state, finished, old
    for n, read_at in enumerate((now - timedelta(days=100), now - timedelta(days=2), None)):
        db.add(Notification(user_id=person.id, kind="note", title="t", dedupe_key=f"k{n}", read_at=read_at,
                            created_at=now - timedelta(days=200)))
    db.commit()

    counts = purge(db, now=now, job_days=30, notification_days=90, chunk=1, max_chunks=10)
    assert counts["jobs"] == 2 and counts["notifications"] == 1
    left = db.scalars(sa.select(Job.payload)).all()
    assert {names[p["class_id"] - 1] for p in left} == {"recent_done", "old_but_open", "old_running"}
    assert db.scalar(sa.select(sa.func.count(Notification.id))) == 2


def test_each_run_is_bounded(db):
    now = utcnow()
    for n in range(5):
        job = new_job(db, "report", {"kind": "class_roster", "class_id": n + 1}, owner_id=None)
        job.state, job.finished_at = "succeeded", now - timedelta(days=40)
    db.commit()
    assert purge(db, now=now, job_days=30, notification_days=90, chunk=2, max_chunks=1)["jobs"] == 2
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 3


def test_stale_login_counters_go_and_live_locks_stay(db):
    from core.models import LoginThrottle

    now = utcnow()
    day_ago = now - timedelta(days=2)
    for key, locked_until in (("stale", None), ("stale-lock-over", now - timedelta(hours=1)),
                              ("still-locked", now + timedelta(hours=1))):
        db.add(LoginThrottle(key=key, scope="account", failures=1, window_started_at=day_ago,
                             locked_until=locked_until, lockouts=1, updated_at=day_ago))
    db.add(LoginThrottle(key="recent", scope="address", failures=3, window_started_at=now, lockouts=0,
                         updated_at=now))
    db.commit()
    assert purge(db, now=now, job_days=30, notification_days=90)["login_throttles"] == 2
    assert set(db.scalars(sa.select(LoginThrottle.key))) == {"still-locked", "recent"}


def test_the_consoles_history_goes_after_its_time_and_the_recent_stays(db):
    from core.models.ops import JobMinute, PeriodicRun, QueueSample

    now = utcnow()
    for days in (9, 1):
        at = now - timedelta(days=days)
        db.add_all([QueueSample(taken_at=at, queue=q, visible=1, in_flight=0, delayed=0) for q in ("main", "dead")])
        db.add(JobMinute(minute=at.replace(second=0, microsecond=0), type="canary", succeeded=1, failed=0,
                         cancelled=0, total_ms=5))
    for days in (31, 2):
        db.add(PeriodicRun(task="relay-outbox", trigger="cron", started_at=now - timedelta(days=days),
                           finished_at=now - timedelta(days=days), outcome="succeeded", counts={"sent": 0}))
    db.commit()
    counts = purge(db, now=now, job_days=30, notification_days=90, chunk=1, max_chunks=10)
    assert (counts["queue_samples"], counts["job_minutes"], counts["periodic_runs"]) == (2, 1, 1)
    assert {s.taken_at for s in db.scalars(sa.select(QueueSample))} == {now - timedelta(days=1)}
    assert db.scalar(sa.select(sa.func.count()).select_from(JobMinute)) == 1
    assert [r.started_at for r in db.scalars(sa.select(PeriodicRun))] == [now - timedelta(days=2)]


def test_the_consoles_history_is_deleted_in_bounded_chunks_too(db):
    from core.models.ops import PeriodicRun

    now = utcnow()
    db.add_all([PeriodicRun(task="relay-outbox", trigger="cron", started_at=now - timedelta(days=40, minutes=k),
                            outcome="succeeded") for k in range(5)])
    db.commit()
    assert purge(db, now=now, job_days=30, notification_days=90, chunk=2, max_chunks=1)["periodic_runs"] == 2
    assert db.scalar(sa.select(sa.func.count()).select_from(PeriodicRun)) == 3
