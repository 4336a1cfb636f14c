"""Batches: the transaction that ends the last child enqueues the follow-up exactly once,
whether children succeeded or failed, even when children finish at the same moment; a batch
counts units (an email chunk stands for each of its recipients), whatever ended each child."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs import batches, lifecycle
from core.jobs.batches import start_batch
from core.jobs.contract import JobType
from core.jobs.outbox import envelope_for, flush
from core.jobs.types import JOB_TYPES
from core.models import Batch, Job
from tests.sqsd import deliver, pump
from tests.worker.conftest import ProbePayload, register
from worker.errors import PermanentJobError


def _followups(db) -> list[Job]:
    db.expire_all()
    return [j for j in db.scalars(sa.select(Job).where(Job.type == "probe")).all() if "summary" in j.payload]


def _batch(db, worker_app, children: int, **payload) -> Batch:
    probe = JOB_TYPES["probe"]
    batch = start_batch(db, owner_id=None, parent_job_id=None, description="test",
                        children=[(probe, ProbePayload(n=n, **payload)) for n in range(children)],
                        followup=(probe, ProbePayload(note="done")))
    db.commit()
    return batch


def test_the_follow_up_fires_once_with_a_summary_counting_failures(worker_app, worker_client, db, sqs, aws, probe):
    def sometimes_broken(ctx):
        if ctx.job.payload.get("n", -1) % 4 == 0:
            raise PermanentJobError("bad address")
        return {"ok": True}

    probe.behaviour = sometimes_broken
    batch = _batch(db, worker_app, 10)
    flush(db, worker_app.extensions["aula"].queue)
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=20)

    followups = _followups(db)
    assert len(followups) == 1
    assert followups[0].payload == {"note": "done", "summary": {
        "batch_id": str(batch.id), "total": 10, "succeeded": 7, "failed": 3}}
    assert followups[0].state == "succeeded", "the follow-up itself ran"
    row = db.get(Batch, batch.id)
    assert (row.succeeded, row.failed, row.completed_at is not None) == (7, 3, True)
    assert row.followup_job_id == followups[0].id


def test_a_redelivered_child_is_not_counted_twice(worker_app, worker_client, db, probe):
    batch = _batch(db, worker_app, 2)
    children = db.scalars(sa.select(Job).where(Job.batch_id == batch.id)).all()
    for child in children:
        body = envelope_for(child).to_json()
        deliver(worker_client, body)
        deliver(worker_client, body, receive_count=2)
    db.expire_all()
    assert db.get(Batch, batch.id).succeeded == 2
    assert len(_followups(db)) == 1


def test_an_empty_batch_completes_at_once(worker_app, db, probe):
    batch = _batch(db, worker_app, 0)
    db.expire_all()
    assert db.get(Batch, batch.id).completed_at is not None
    assert len(_followups(db)) == 1


@pytest.mark.parametrize("rounds", [3])
def test_children_finishing_together_fire_the_follow_up_exactly_once(worker_app, db, probe, database_url, rounds):
    """On PostgreSQL the completions really run in parallel (one connection per thread);
    on SQLite they serialise on the write lock. Either way: one follow-up per batch."""
    workers = 8
    for _ in range(rounds):
        batch = _batch(db, worker_app, workers * 3)
        children = db.scalars(sa.select(Job).where(Job.batch_id == batch.id)).all()
        barrier = threading.Barrier(workers)

        def finish_together(ctx, barrier=barrier):
            # Everything but the last child of each thread ends first; then all threads end
            # their last child at once, so the batch completes under maximum contention.
            if ctx.job.payload.get("last"):
                barrier.wait(timeout=20)
            return {"ok": True}

        probe.behaviour = finish_together
        for i, child in enumerate(children):
            child.payload = {**child.payload, "last": i % 3 == 2}
        db.commit()
        statuses: list[int] = []

        def run(slice_: list[Job], statuses: list[int] = statuses) -> None:
            client = worker_app.test_client()
            for child in slice_:
                statuses.append(deliver(client, envelope_for(child).to_json()).status_code)

        threads = [threading.Thread(target=run, args=(children[t * 3:(t + 1) * 3],)) for t in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert statuses == [200] * len(children)
        db.expire_all()
        row = db.get(Batch, batch.id)
        assert (row.succeeded, row.failed) == (len(children), 0)
        summaries = [j for j in _followups(db) if j.payload["summary"]["batch_id"] == str(batch.id)]
        assert len(summaries) == 1


class UnitsPayload(ProbePayload):
    """A child that stands for `units` of its batch, as an email chunk stands for its recipients."""

    @classmethod
    def batch_units(cls, stored: dict) -> int:
        return int(stored["units"])


def test_a_batch_counts_units_and_each_child_settles_all_of_its_own(worker_app, worker_client, db, sqs, aws,
                                                                    monkeypatch, probe):
    def run(ctx):
        script = ctx.job.payload["script"]
        if script == "part then fail":
            # What a chunk does: a checkpoint records how far it got, then it fails for good.
            ctx.checkpoint(50, {"batch_counts": {"succeeded": 1, "failed": 0}})
            raise PermanentJobError("gave up half way")
        if script == "some refused":
            return {"batch_counts": {"succeeded": 2, "failed": 1}}
        return {"ok": True}  # no counts: a success settles every unit

    units = JobType("units", UnitsPayload, "Units", time_limit_seconds=30, max_attempts=1)
    register(monkeypatch, units, run)
    batch = start_batch(db, owner_id=None, parent_job_id=None, description="units",
                        children=[(units, UnitsPayload(units=3, script="some refused")),
                                  (units, UnitsPayload(units=4, script="part then fail")),
                                  (units, UnitsPayload(units=2, script="cancelled while queued")),
                                  (units, UnitsPayload(units=1, script="plain"))],
                        followup=(JOB_TYPES["probe"], ProbePayload(note="done")))
    db.commit()
    assert db.get(Batch, batch.id).total == 10
    queued = db.scalars(sa.select(Job).where(Job.batch_id == batch.id)).all()
    cancelled = next(j for j in queued if j.payload["script"] == "cancelled while queued")
    assert lifecycle.request_cancel(db, cancelled.id, utcnow()) == "cancelled"
    db.commit()
    for child in queued:
        if child is not cancelled:
            assert deliver(worker_client, envelope_for(child).to_json()).status_code == 200

    db.expire_all()
    row = db.get(Batch, batch.id)
    # 2 of 3, 1 of 4 (then failed), 0 of 2 (cancelled), 1 of 1.
    assert (row.total, row.succeeded, row.failed, row.completed_at is not None) == (10, 4, 6, True)
    [followup] = _followups(db)
    assert followup.payload["summary"] == {"batch_id": str(batch.id), "total": 10, "succeeded": 4, "failed": 6}


@pytest.mark.parametrize("state, result, expected", [
    ("succeeded", None, (5, 0)),
    ("succeeded", {"batch_counts": {"succeeded": 3, "failed": 2}}, (3, 2)),
    ("failed", None, (0, 5)),
    ("failed", {"batch_counts": {"succeeded": 2}}, (2, 3)),
    ("cancelled", {"batch_counts": {"succeeded": 9}}, (5, 0)),  # never more than the child stands for
    ("succeeded", {"batch_counts": {"succeeded": True}}, (5, 0)),  # not a count: ignored
])
def test_what_a_finished_child_settles(state, result, expected):
    assert batches.settled(5, state, result) == expected
