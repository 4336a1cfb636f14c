from __future__ import annotations

import threading
from typing import Callable

import pytest

from core.jobs.outbox import new_job
from core.jobs.types import JOB_TYPES, JobType
from worker.handlers import HANDLERS


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
    monkeypatch.setitem(JOB_TYPES, job.name, JobType(job.name, time_limit_seconds=30, max_attempts=3, backoff_base_seconds=1))
    monkeypatch.setitem(HANDLERS, job.name, job)
    return job


@pytest.fixture
def make_job(db):
    def make(job_type: str = "probe", payload: dict | None = None, owner_id: int | None = None):
        job = new_job(db, job_type, payload or {}, owner_id=owner_id)
        db.commit()
        return job

    return make
