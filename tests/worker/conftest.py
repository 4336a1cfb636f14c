from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from pydantic import ConfigDict

from core.jobs.contract import JobType, Payload
from core.jobs.outbox import new_job
from core.jobs.types import JOB_TYPES
from core.models import Job
from worker.handlers import HANDLERS, Handler


class ProbePayload(Payload):
    """Takes and keeps anything: the probe's behaviour is scripted by the test, not its input."""

    model_config = ConfigDict(extra="allow")


def register(monkeypatch: pytest.MonkeyPatch, job_type: JobType, run: Callable) -> None:
    """Declare a job type for one test and give it a handler `run(ctx)`."""
    monkeypatch.setitem(JOB_TYPES, job_type.name, job_type)
    monkeypatch.setitem(HANDLERS, job_type.name, Handler(job_type, lambda ctx, _payload: run(ctx)))


class ProbeJob:
    """A job type whose handler a test scripts: count runs, block, or raise."""

    name = "probe"

    def __init__(self) -> None:
        self.runs = 0
        self.lock = threading.Lock()
        self.behaviour: Callable[[object], dict] = lambda ctx: {"ok": True}

    def __call__(self, ctx) -> dict:
        with self.lock:
            self.runs += 1
        return self.behaviour(ctx)


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> ProbeJob:
    job = ProbeJob()
    register(monkeypatch, JobType(job.name, ProbePayload, "Probe", time_limit_seconds=30, max_attempts=3,
                                  backoff_base_seconds=1), job)
    return job


@pytest.fixture
def make_job(db):
    def make(job_type: str = "probe", payload: dict | None = None, owner_id: int | None = None):
        job = new_job(db, job_type, payload or {}, owner_id=owner_id)
        db.commit()
        return job

    return make


@pytest.fixture
def make_raw_job(db):
    """A job row whose payload was never validated, as an older release or a hand-made row
    may have left it: the worker must fail it permanently, with the reason."""
    def make(job_type: str, payload: dict, owner_id: int | None = None) -> Job:
        job = Job(id=uuid.uuid4(), type=job_type, payload=payload, owner_id=owner_id, state="queued")
        db.add(job)
        db.commit()
        return job

    return make
