"""The `publish-scheduled` periodic task (issue 13, item 4): a scheduled activity goes out at its
time, with a clock the test moves (core.db.utcnow), once even if runs overlap; its fan-out runs
then, every notification linking to the activity's page; a cancelled one never goes out."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core import db as core_db
from core.db import utcnow
from core.models import Activity, Job, Notification
from tests import factories
from tests.sqsd import fire_task, pump
from web.common.activities import publish_to_class
from web.common.activity_edits import unpublish_activity
from worker.handlers.activities import publish_due

TASK = ("publish-scheduled", "/sqsd/tasks/publish-scheduled")


def _scheduled(db, hours: float, students: int = 2):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, pupils = factories.school_class(db, teacher, students=students)
    activity, job = publish_to_class(db, group.id, teacher, "Project", "See https://example.org/brief",
                                     publish_at=utcnow() + timedelta(hours=hours))
    assert job is None and activity.status == "scheduled"
    db.commit()
    return teacher, activity, pupils


@pytest.fixture
def clock(monkeypatch):
    """Move core.db.utcnow forward: what the task reads as "now"."""
    real = core_db.utcnow
    offset = [timedelta(0)]
    monkeypatch.setattr(core_db, "utcnow", lambda: real() + offset[0])

    def advance(delta: timedelta) -> None:
        offset[0] += delta

    return advance


def test_a_scheduled_activity_goes_out_at_its_time_and_once(worker_client, db, sqs, aws, clock):
    teacher, activity, pupils = _scheduled(db, hours=30)
    before = fire_task(worker_client, *TASK)
    assert before.status_code == 200, before.get_json()
    db.expire_all()
    assert db.get(Activity, activity.id).status == "scheduled"
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 0

    clock(timedelta(hours=30, minutes=1))
    assert fire_task(worker_client, *TASK).status_code == 200
    assert fire_task(worker_client, *TASK).status_code == 200  # the next tick finds nothing due
    db.expire_all()
    row = db.get(Activity, activity.id)
    assert row.status == "published" and row.published_at is not None
    jobs = db.scalars(sa.select(Job).where(Job.type == "activity_fanout")).all()
    assert len(jobs) == 1 and jobs[0].owner_id == teacher.id and jobs[0].published_at is not None

    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=20)
    notes = db.scalars(sa.select(Notification).where(Notification.activity_id == activity.id)).all()
    students = [n for n in notes if n.kind == "activity_published"]
    assert sorted(n.user_id for n in students) == sorted(p.id for p in pupils)
    assert {n.link for n in notes} == {f"/activities/{activity.id}"}  # the students' and the summary


def test_overlapping_runs_publish_each_activity_once(db):
    _, first, _ = _scheduled(db, hours=1)
    _, second, _ = _scheduled(db, hours=2)
    later = utcnow() + timedelta(hours=3)
    assert publish_due(db, later) == 2
    assert publish_due(db, later) == 0  # what an overlapping run finds: nothing left 'scheduled'
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 2
    payloads = sorted(job.payload["activity_id"] for job in db.scalars(sa.select(Job)))
    assert payloads == sorted([first.id, second.id])


def test_only_due_activities_are_published(db):
    _, soon, _ = _scheduled(db, hours=1)
    _, weeks, _ = _scheduled(db, hours=24 * 21)  # three weeks: far beyond SQS's 15-minute delay
    assert publish_due(db, utcnow() + timedelta(hours=2)) == 1
    db.expire_all()
    assert db.get(Activity, soon.id).status == "published"
    assert db.get(Activity, weeks.id).status == "scheduled"


def test_a_cancelled_activity_never_goes_out(db):
    _, activity, _ = _scheduled(db, hours=1)
    assert unpublish_activity(db, db.get(Activity, activity.id)) == 0
    db.commit()
    assert publish_due(db, utcnow() + timedelta(hours=2)) == 0
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 0
    assert db.scalar(sa.select(sa.func.count(Notification.id))) == 0
