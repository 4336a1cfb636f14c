"""Every periodic task run is recorded (started, finished with its outcome and counts, or skipped
when another run holds the lease), the dead-letter monitor records the queues' depths, and the
console's "run now" job runs a task through the same lease."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import envelope_for, new_job
from core.jobs.periodic import RELAY_OUTBOX
from core.models import Job, TaskLease
from core.models.ops import PeriodicRun, QueueSample
from tests import factories_ops
from tests.sqsd import fire_task, pump
from worker import leases, tasks


def _runs(db, task: str) -> list[PeriodicRun]:
    db.expire_all()
    return list(db.scalars(sa.select(PeriodicRun).where(PeriodicRun.task == task).order_by(PeriodicRun.id)))


def test_a_cron_run_is_recorded_from_start_to_end_with_its_counts(worker_client, db):
    before = utcnow()
    assert fire_task(worker_client, "relay-outbox", "/sqsd/tasks/relay-outbox").status_code == 200
    (run,) = _runs(db, "relay-outbox")
    assert (run.trigger, run.outcome, run.counts, run.error, run.requested_by) == ("cron", "succeeded", {"sent": 0},
                                                                                   None, None)
    assert before <= run.started_at <= run.finished_at
    assert run.holder and "#" in run.holder, "which process held the lease, and which of its runs"
    db.expire_all()
    assert db.get(TaskLease, "relay-outbox").expires_at is None, "released"


def test_a_run_that_finds_the_lease_held_is_recorded_as_skipped(worker_app, worker_client, db):
    leases.acquire(db, "relay-outbox", "someone-else", timedelta(minutes=5), utcnow())
    answer = fire_task(worker_client, "relay-outbox", "/sqsd/tasks/relay-outbox").get_json()
    assert answer["skipped"]
    (run,) = _runs(db, "relay-outbox")
    assert run.outcome == "skipped" and run.finished_at == run.started_at and run.holder is None


def test_a_failing_run_is_recorded_failed_raised_again_and_frees_the_lease(worker_app, db, monkeypatch):
    def broken(services):
        raise RuntimeError("the relay broke")

    monkeypatch.setitem(tasks.TASKS, "relay-outbox", tasks.PeriodicTask(RELAY_OUTBOX, broken))
    with pytest.raises(RuntimeError, match="the relay broke"):
        tasks.run_task(worker_app.extensions["aula"], "relay-outbox")
    (run,) = _runs(db, "relay-outbox")
    assert run.outcome == "failed" and run.error == "RuntimeError: the relay broke" and run.finished_at
    assert leases.acquire(db, "relay-outbox", "next", timedelta(minutes=5), utcnow()), "the lease was released"


def test_the_dead_letter_monitor_records_both_queues_depths(worker_client, db, sqs, aws):
    sqs.send_message(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], MessageBody="junk")
    fire_task(worker_client, "dead-letter-monitor", "/sqsd/tasks/dead-letter-monitor")
    rows = {s.queue: s.visible for s in db.scalars(sa.select(QueueSample))}
    assert rows == {"main": 0, "dead": 1}


def _run_now_job(db, task: str, owner_id: int) -> Job:
    job = new_job(db, "periodic_run", {"task": task}, owner_id=owner_id, origin="periodic")
    db.commit()
    return job


def test_a_run_now_job_runs_the_task_as_a_manual_run_of_its_asker(worker_app, worker_client, db, sqs, aws):
    operator = factories_ops.operator(db)
    job = _run_now_job(db, "reclaim-stalled", operator.id)
    worker_app.extensions["aula"].queue.send(envelope_for(job))
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.state == "succeeded" and row.result["task"] == "reclaim-stalled" and "reclaimed" in row.result
    (run,) = _runs(db, "reclaim-stalled")
    assert (run.trigger, run.requested_by, run.outcome) == ("manual", operator.id, "succeeded")


def test_a_run_now_job_while_a_cron_run_holds_the_lease_succeeds_as_skipped(worker_app, worker_client, db, sqs,
                                                                              aws):
    operator = factories_ops.operator(db)
    leases.acquire(db, "retention", "cron-run", timedelta(minutes=30), utcnow())
    job = _run_now_job(db, "retention", operator.id)
    worker_app.extensions["aula"].queue.send(envelope_for(job))
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.state == "succeeded" and row.result == {"task": "retention",
                                                       "skipped": "another run of this task is in progress"}
    (run,) = _runs(db, "retention")
    assert (run.trigger, run.outcome) == ("manual", "skipped")


def test_a_run_now_job_of_an_unknown_task_fails_for_good(worker_app, worker_client, db, sqs, aws):
    job = _run_now_job(db, "no-such-task", factories_ops.operator(db).id)
    worker_app.extensions["aula"].queue.send(envelope_for(job))
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.state == "failed" and "no-such-task" in row.error
