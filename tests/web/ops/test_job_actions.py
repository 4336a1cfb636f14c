"""POST /api/ops/jobs/<id>/reprocess and /cancel: what each does to the job and its copy, the
states that refuse them (409), scope (admins within their institution, 404 beyond), and the
audit entry each writes in its own transaction."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from core.models import Job
from core.models.ops import AuditEntry
from tests import factories
from tests.web.ops.test_jobs_api import REPORT, make


def audit(db, action):
    db.expire_all()
    return list(db.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def test_reprocessing_a_failed_job_creates_a_linked_copy_and_leaves_the_original(client, db, staff):
    original = make(db, staff.teacher_a, "failed", error="boom", attempts=4)
    db.commit()
    response = client.post(f"/api/ops/jobs/{original.id}/reprocess", headers=factories.login(client, staff.admin_a))
    assert response.status_code == 202, response.get_json()
    copy_id = response.get_json()["job"]["id"]
    assert response.headers["Location"] == f"/api/ops/jobs/{copy_id}"
    db.expire_all()
    copy, before = db.get(Job, uuid.UUID(copy_id)), db.get(Job, original.id)
    assert (copy.type, copy.payload, copy.owner_id, copy.state) == ("report", REPORT, staff.teacher_a.id, "queued")
    assert (copy.reprocess_of_id, copy.origin, copy.parent_id, copy.batch_id) == (original.id, "reprocess", None, None)
    assert (before.state, before.error, before.attempts) == ("failed", "boom", 4)
    [entry] = audit(db, "job.reprocess")
    assert (entry.actor_id, entry.target, entry.count, entry.detail["copy_id"]) == (
        staff.admin_a.id, f"job:{original.id}", 1, copy_id)


def test_only_failed_or_cancelled_jobs_are_reprocessed_and_one_copy_at_a_time(client, db, staff):
    auth = factories.login(client, staff.operator)
    for state in ("succeeded", "queued", "running", "retrying"):
        job = make(db, staff.teacher_a, state)
        db.commit()
        response = client.post(f"/api/ops/jobs/{job.id}/reprocess", headers=auth)
        assert response.status_code == 409 and state in response.get_json()["error"], state
    cancelled = make(db, staff.teacher_a, "cancelled")
    db.commit()
    assert client.post(f"/api/ops/jobs/{cancelled.id}/reprocess", headers=auth).status_code == 202
    second = client.post(f"/api/ops/jobs/{cancelled.id}/reprocess", headers=auth)
    assert second.status_code == 409 and second.get_json()["copy_id"]
    assert len(audit(db, "job.reprocess")) == 1


def test_a_payload_that_no_longer_validates_is_a_409_not_a_500(client, db, staff):
    job = make(db, staff.teacher_a, "failed", payload={"kind": "gone", "class_id": 1})
    stale_type = make(db, staff.teacher_a, "failed", type="retired_type", payload={})
    db.commit()
    auth = factories.login(client, staff.operator)
    assert client.post(f"/api/ops/jobs/{job.id}/reprocess", headers=auth).status_code == 409
    assert client.post(f"/api/ops/jobs/{stale_type.id}/reprocess", headers=auth).status_code == 409
    assert audit(db, "job.reprocess") == []


def test_cancelling_a_waiting_job_a_running_one_and_a_finished_one(client, db, staff):
    queued, running, done = (make(db, staff.teacher_a, s) for s in ("queued", "running", "succeeded"))
    db.commit()
    auth = factories.login(client, staff.admin_a)
    first = client.post(f"/api/ops/jobs/{queued.id}/cancel", headers=auth)
    assert first.status_code == 200 and first.get_json()["outcome"] == "cancelled"
    assert first.get_json()["job"]["state"] == "cancelled"
    second = client.post(f"/api/ops/jobs/{running.id}/cancel", headers=auth)
    assert second.status_code == 202 and second.get_json()["outcome"] == "cancelling"
    assert client.post(f"/api/ops/jobs/{done.id}/cancel", headers=auth).status_code == 409
    db.expire_all()
    assert db.get(Job, running.id).cancel_requested_at is not None and db.get(Job, done.id).state == "succeeded"
    assert sorted(e.detail["outcome"] for e in audit(db, "job.cancel")) == ["cancelled", "cancelling"]


def test_another_institutions_admin_gets_404_and_changes_nothing(client, db, staff):
    failed, queued = make(db, staff.teacher_a, "failed"), make(db, staff.teacher_a, "queued")
    db.commit()
    auth = factories.login(client, staff.admin_b)
    assert client.post(f"/api/ops/jobs/{failed.id}/reprocess", headers=auth).status_code == 404
    assert client.post(f"/api/ops/jobs/{queued.id}/cancel", headers=auth).status_code == 404
    db.expire_all()
    assert db.get(Job, queued.id).state == "queued"
    assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.reprocess_of_id == failed.id)) == 0
    assert audit(db, "job.reprocess") == audit(db, "job.cancel") == []


def test_the_page_actions_need_the_csrf_token(client, db, staff):
    from tests.web.pages.helpers import csrf_token, page_login

    failed = make(db, staff.teacher_a, "failed")
    db.commit()
    page_login(client, staff.operator)
    assert client.post(f"/ops/jobs/{failed.id}/reprocess").status_code == 400
    token = csrf_token(client, f"/ops/jobs/{failed.id}")
    response = client.post(f"/ops/jobs/{failed.id}/reprocess", data={"csrf_token": token})
    assert response.status_code == 303
    db.expire_all()
    copy = db.scalars(sa.select(Job).where(Job.reprocess_of_id == failed.id)).one()
    assert response.headers["Location"].endswith(f"/ops/jobs/{copy.id}")
