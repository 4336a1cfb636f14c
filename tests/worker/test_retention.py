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
