"""A queued job of a paused type says why it waits on its own page and in GET /api/ops/jobs/<id>:
paused, since when, why, and by whom to operators only (an admin sees the pause without the
name, as on the overview). Running and finished jobs of the type are not held, so they say nothing."""
from __future__ import annotations

import pytest

from core.jobs import pauses
from core.jobs.outbox import new_job
from core.models import Job
from tests import factories
from tests.web.pages.helpers import page_login


@pytest.fixture(autouse=True)
def _fresh_cache():
    pauses.forget()
    yield
    pauses.forget()


def _job(db, owner, state: str = "queued") -> Job:
    job = new_job(db, "report", {"kind": "class_roster", "class_id": 1}, owner.id)
    job.state = state
    db.commit()
    return job


def _pause(client, staff, reason: str = "the report bucket is read-only") -> None:
    headers = factories.login(client, staff.operator)
    assert client.put("/api/ops/pauses/report", headers=headers, json={"reason": reason}).status_code == 201


def test_a_queued_job_of_a_paused_type_says_who_paused_it_when_and_why(client, db, staff):
    job = _job(db, staff.teacher_a)
    _pause(client, staff)
    body = client.get(f"/api/ops/jobs/{job.id}", headers=factories.login(client, staff.operator)).get_json()
    paused = body["paused"]
    assert (paused["type"], paused["reason"]) == ("report", "the report bucket is read-only")
    assert paused["paused_by"] == {"id": staff.operator.id, "name": staff.operator.full_name}
    assert paused["paused_at"]

    page_login(client, staff.operator)
    html = client.get(f"/ops/jobs/{job.id}").get_data(as_text=True)
    assert "data-job-paused" in html and "the report bucket is read-only" in html
    assert f"by {staff.operator.full_name}" in html and paused["paused_at"][:19].replace("T", " ") in html


def test_an_admin_sees_the_pause_of_their_jobs_but_not_who(client, db, staff):
    job = _job(db, staff.teacher_a, "retrying")
    _pause(client, staff)
    body = client.get(f"/api/ops/jobs/{job.id}", headers=factories.login(client, staff.admin_a)).get_json()
    assert body["paused"]["reason"] == "the report bucket is read-only" and "paused_by" not in body["paused"]
    page_login(client, staff.admin_a)
    html = client.get(f"/ops/jobs/{job.id}").get_data(as_text=True)
    assert "data-job-paused" in html and staff.operator.full_name not in html


@pytest.mark.parametrize("state", ["running", "succeeded", "failed"])
def test_a_job_the_pause_does_not_hold_says_nothing_of_it(client, db, staff, state):
    job = _job(db, staff.teacher_a, state)
    _pause(client, staff)
    body = client.get(f"/api/ops/jobs/{job.id}", headers=factories.login(client, staff.operator)).get_json()
    assert body["paused"] is None


def test_after_resuming_the_job_is_no_longer_held(client, db, staff):
    job = _job(db, staff.teacher_a)
    _pause(client, staff)
    headers = factories.login(client, staff.operator)
    assert client.delete("/api/ops/pauses/report", headers=headers).status_code == 200
    assert client.get(f"/api/ops/jobs/{job.id}", headers=headers).get_json()["paused"] is None
    page_login(client, staff.operator)
    assert "data-job-paused" not in client.get(f"/ops/jobs/{job.id}").get_data(as_text=True)
