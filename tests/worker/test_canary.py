"""The canary job: the engine's whole path with no work of its own."""
from __future__ import annotations

import os

import pytest

from core.jobs import lifecycle
from core.jobs.outbox import envelope_for, new_job
from core.jobs.types import CANARY, CanaryPayload
from core.models import Job
from core.parsing import InputError
from tests.sqsd import deliver


def test_a_canary_succeeds_through_the_sqsd_path(worker_client, db):
    job = new_job(db, CANARY, CanaryPayload(note="after deploy"), owner_id=None)
    db.commit()
    response = deliver(worker_client, envelope_for(job).to_json())
    assert response.status_code == 200 and response.get_json()["outcome"] == "succeeded"
    db.expire_all()
    row = db.get(Job, job.id)
    assert (row.state, row.attempts, row.result) == ("succeeded", 1, {"ok": True, "note": "after deploy"})
    # The claim names the worker that ran the attempt, "instance/pid".
    assert row.claimed_by == lifecycle.claimer() and row.claimed_by.endswith(f"/{os.getpid()}")


def test_a_canary_note_is_bounded():
    with pytest.raises(InputError, match="note"):
        CANARY.parse({"note": "x" * 201})
