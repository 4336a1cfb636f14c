"""The `ops_bulk` job (worker/handlers/ops_bulk.py): a console bulk reprocess or cancel walks the
matching rows in chunks (a chunk of 3 here: the same code path as 500 at 100,000 rows), goes on
after a crash from its checkpointed cursor without redoing a chunk, makes one copy per target
however often it runs, and stops between chunks when it is cancelled itself."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs import lifecycle
from core.jobs.ops_jobs_filter import JobFilter
from core.jobs.outbox import envelope_for, new_job
from core.jobs.types import OPS_BULK, OpsBulkPayload
from core.models import Job
from tests import factories, factories_ops
from tests.sqsd import deliver
from worker.handlers import ops_bulk

REPORT = {"kind": "class_roster", "class_id": 7, "format": "csv"}
T0 = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(ops_bulk, "CHUNK", 3)
    monkeypatch.setattr(ops_bulk, "PAUSE_SECONDS", 0)


@pytest.fixture
def people(db):
    school = factories.institution(db)
    people = {"operator": factories_ops.operator(db), "teacher": factories.user(db, school, "teacher")}
    db.commit()
    return people


def rows(db, owner, count, state="failed", job_type="report", minutes=0) -> list[Job]:
    jobs = [Job(id=uuid.uuid4(), type=job_type, payload=REPORT if job_type == "report" else {}, owner_id=owner.id,
                state=state, created_at=T0 + timedelta(minutes=minutes, seconds=n), error="boom" if state == "failed"
                else None, attempts=1) for n in range(count)]
    db.add_all(jobs)
    db.commit()
    return jobs


def start(db, operator, action="reprocess", **filters) -> Job:
    job = new_job(db, OPS_BULK, OpsBulkPayload(action=action, filter=JobFilter(**filters), until=utcnow().isoformat()),
                  operator.id, origin="request")
    db.commit()
    return job


def copies_of(db, bulk) -> list[Job]:
    db.expire_all()
    return list(db.scalars(sa.select(Job).where(Job.parent_id == bulk.id)))


def run(worker_client, job):
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200
    return response.get_json()["outcome"]


def test_a_bulk_reprocess_copies_each_matching_job_once_in_chunks(worker_client, db, people):
    failed = rows(db, people["teacher"], 8)
    others = rows(db, people["teacher"], 2, state="succeeded") + rows(db, people["teacher"], 2, job_type="canary")
    bulk = start(db, people["operator"], state="failed", type="report")
    late = rows(db, people["teacher"], 1, minutes=120)[0]  # created after the action was asked for
    assert run(worker_client, bulk) == "succeeded"
    copies = copies_of(db, bulk)
    assert sorted(c.reprocess_of_id for c in copies) == sorted(j.id for j in failed)
    assert {(c.type, c.state, c.origin, c.owner_id) for c in copies} == {("report", "queued", "reprocess",
                                                                          people["teacher"].id)}
    done = db.get(Job, bulk.id)
    assert done.state == "succeeded" and done.progress == 100
    assert {k: done.result[k] for k in ("total", "done", "changed", "already", "invalid", "finished")} == {
        "total": 8, "done": 8, "changed": 8, "already": 0, "invalid": 0, "finished": True}
    untouched = db.scalars(sa.select(Job).where(Job.id.in_([j.id for j in failed + others] + [late.id]))).all()
    assert {(j.state, j.error) for j in untouched if j.state == "failed"} == {("failed", "boom")}
    assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.reprocess_of_id == late.id)) == 0


def test_after_a_crash_it_goes_on_from_its_last_chunk(worker_client, db, people, monkeypatch):
    failed = rows(db, people["teacher"], 8)
    bulk = start(db, people["operator"], state="failed")
    flushed = []

    def crash_after_the_second_chunk(session, queue):
        flushed.append(1)
        if len(flushed) == 2:
            raise RuntimeError("the worker died")
        return 0

    monkeypatch.setattr(ops_bulk.outbox, "flush", crash_after_the_second_chunk)
    assert run(worker_client, bulk) == "retry_scheduled"
    db.expire_all()
    assert db.get(Job, bulk.id).result["done"] == 6 and len(copies_of(db, bulk)) == 6  # two chunks committed
    db.execute(sa.update(Job).where(Job.id == bulk.id).values(next_attempt_at=None))  # due now
    db.commit()
    monkeypatch.setattr(ops_bulk.outbox, "flush", lambda session, queue: 0)
    assert run(worker_client, bulk) == "succeeded"
    copies = copies_of(db, bulk)
    assert sorted(c.reprocess_of_id for c in copies) == sorted(j.id for j in failed)  # none twice
    assert db.get(Job, bulk.id).result["already"] == 0


def test_a_chunk_run_again_makes_no_second_copy(worker_client, db, people):
    failed = rows(db, people["teacher"], 5)
    bulk = start(db, people["operator"], state="failed")
    assert run(worker_client, bulk) == "succeeded"
    # As if the cursor had been lost with a chunk's commit in doubt: the walk starts again.
    db.execute(sa.update(Job).where(Job.id == bulk.id).values(state="queued", result=None, finished_at=None))
    db.commit()
    assert run(worker_client, bulk) == "succeeded"
    assert len(copies_of(db, bulk)) == len(failed)
    assert db.get(Job, bulk.id).result["already"] == 5


def test_a_bulk_cancel_cancels_the_unfinished_and_never_itself(worker_client, db, people):
    queued = rows(db, people["teacher"], 4, state="queued") + rows(db, people["teacher"], 1, state="retrying")
    finished = rows(db, people["teacher"], 2, state="succeeded")
    bulk = start(db, people["operator"], action="cancel")
    assert run(worker_client, bulk) == "succeeded"
    db.expire_all()
    assert {db.get(Job, j.id).state for j in queued} == {"cancelled"}
    assert {db.get(Job, j.id).state for j in finished} == {"succeeded"}
    assert db.get(Job, bulk.id).result["changed"] == 5


def test_cancelling_the_bulk_job_stops_it_between_chunks(worker_client, worker_app, db, people, monkeypatch):
    rows(db, people["teacher"], 9)
    bulk = start(db, people["operator"], state="failed")

    def operator_cancels(_seconds):
        with worker_app.extensions["aula"].db.sessions() as other:
            assert lifecycle.request_cancel(other, bulk.id, utcnow()) == "cancelling"
            other.commit()

    monkeypatch.setattr(ops_bulk.time, "sleep", operator_cancels)
    assert run(worker_client, bulk) == "cancelled"
    db.expire_all()
    stopped = db.get(Job, bulk.id)
    assert stopped.state == "cancelled" and stopped.result["done"] == 6  # the chunk after the request, then stop
    assert len(copies_of(db, bulk)) == 6


def test_jobs_whose_payload_no_longer_validates_are_counted_not_copied(worker_client, db, people):
    good = rows(db, people["teacher"], 2)
    bad = Job(id=uuid.uuid4(), type="report", payload={"kind": "gone"}, owner_id=people["teacher"].id,
              state="failed", created_at=T0)
    db.add(bad)
    db.commit()
    bulk = start(db, people["operator"], state="failed")
    assert run(worker_client, bulk) == "succeeded"
    assert sorted(c.reprocess_of_id for c in copies_of(db, bulk)) == sorted(j.id for j in good)
    assert db.get(Job, bulk.id).result["invalid"] == 1
