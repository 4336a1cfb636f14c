"""GET /api/ops/bulk/count and POST /api/ops/bulk: operators only; the count the confirmation
names (counters for state/type, a capped count otherwise); the ops_bulk job it starts with the
filter it was given; the 409 when the count confirmed is no longer the count; the audit entry;
and the bulk job's page, which is its job page with a progress bar."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from core.jobs.outbox import envelope_for
from core.models import Job
from core.models.ops import AuditEntry
from tests import factories
from tests.sqsd import deliver
from tests.web.ops.test_jobs_api import make
from web.common.ops import jobs_bulk


@pytest.fixture
def failed(db, staff):
    jobs = [make(db, staff.teacher_a, "failed", n, error="Throttling" if n % 2 else "boom") for n in range(6)]
    jobs += [make(db, staff.teacher_b, "failed", 10), make(db, staff.teacher_a, "queued", 11)]
    db.commit()
    return jobs


def test_admins_may_not_run_bulk_actions(client, staff, failed):
    auth = factories.login(client, staff.admin_a)
    assert client.get("/api/ops/bulk/count?action=reprocess", headers=auth).status_code == 403
    response = client.post("/api/ops/bulk", headers=auth, json={"action": "reprocess", "filter": {"state": "failed"}})
    assert response.status_code == 403 and "operators" in response.get_json()["error"]


def test_the_count_is_of_the_jobs_the_action_changes(client, staff, failed):
    auth = factories.login(client, staff.operator)

    def count(query):
        body = client.get(f"/api/ops/bulk/count?{query}", headers=auth).get_json()
        return body["count"], body["count_exact"]

    assert count("action=reprocess") == (7, True)  # counters: every failed or cancelled job
    assert count("action=reprocess&state=failed&type=report") == (7, True)
    assert count("action=reprocess&state=queued") == (0, True)
    assert count("action=cancel") == (1, True)
    assert count("action=reprocess&error=throttl") == (3, True)  # a capped count
    assert count(f"action=reprocess&institution={staff.school_b.id}") == (1, True)


def test_a_count_past_the_cap_says_more_than(client, staff, failed, monkeypatch):
    monkeypatch.setattr(jobs_bulk, "COUNT_CAP", 2)
    body = client.get("/api/ops/bulk/count?action=reprocess&error=o", headers=factories.login(client, staff.operator)
                      ).get_json()
    assert (body["count"], body["count_exact"], body["describe"]) == (2, False, "more than 2")


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "delete", "filter": {}}, "action"),
    ({"action": "cancel", "filter": {"state": "lost"}}, "state"),
    ({"action": "cancel", "filter": {"colour": "red"}}, "filter"),
    ({"action": "cancel", "filter": "state=failed"}, "filter"),
    ({"action": "cancel", "filter": {"payload": "a=1"}}, "payload"),
    ({"action": "cancel", "expected_count": -1}, "expected_count"),
    ({"action": "cancel", "extra": 1}, "extra"),
])
def test_bad_bulk_requests_are_400_naming_the_field(client, staff, failed, body, field):
    response = client.post("/api/ops/bulk", headers=factories.login(client, staff.operator), json=body)
    assert response.status_code == 400 and response.get_json()["field"] == field, response.get_json()


def test_a_stale_count_or_nothing_to_do_is_409_and_does_nothing(client, db, staff, failed):
    auth = factories.login(client, staff.operator)
    stale = client.post("/api/ops/bulk", headers=auth, json={"action": "reprocess", "filter": {"state": "failed"},
                                                             "expected_count": 3})
    assert stale.status_code == 409 and stale.get_json()["count"] == 7
    empty = client.post("/api/ops/bulk", headers=auth, json={"action": "cancel", "filter": {"state": "failed"}})
    assert empty.status_code == 409
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.type == "ops_bulk")) == 0
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 0


def test_a_bulk_reprocess_runs_as_a_job_and_is_audited(client, worker_client, db, staff, failed):
    auth = factories.login(client, staff.operator)
    response = client.post("/api/ops/bulk", headers=auth, json={
        "action": "reprocess", "filter": {"state": "failed", "owner": staff.teacher_a.email, "error": "Throttling"},
        "expected_count": 3})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert (body["count"], body["count_exact"], body["job"]["type"]) == (3, True, "ops_bulk")
    db.expire_all()
    bulk = db.get(Job, uuid.UUID(body["job"]["id"]))
    assert bulk.owner_id == staff.operator.id and bulk.origin == "request"
    stored = {k: v for k, v in bulk.payload["filter"].items() if v not in (None, [])}
    assert stored == {"state": "failed", "owner_id": staff.teacher_a.id, "error": "Throttling"}
    [entry] = db.scalars(sa.select(AuditEntry).where(AuditEntry.action == "jobs.bulk_reprocess")).all()
    assert (entry.actor_id, entry.count, entry.target) == (staff.operator.id, 3, f"job:{bulk.id}")
    assert entry.detail["filter"] == stored
    assert deliver(worker_client, envelope_for(bulk).to_json()).get_json()["outcome"] == "succeeded"
    db.expire_all()
    copies = db.scalars(sa.select(Job).where(Job.parent_id == bulk.id)).all()
    assert sorted(c.reprocess_of_id for c in copies) == sorted(j.id for j in failed[:6] if j.error == "Throttling")
    page = client.get(f"/api/ops/jobs/{bulk.id}", headers=auth).get_json()
    assert page["bulk"]["done"] == 3 and page["bulk"]["percent"] == 100 and page["bulk"]["action"] == "reprocess"
    assert len(page["lineage"]["children"]["items"]) == 3


def test_the_bulk_job_is_cancelled_with_the_single_job_cancel(client, db, staff, failed):
    auth = factories.login(client, staff.operator)
    started = client.post("/api/ops/bulk", headers=auth, json={"action": "reprocess", "filter": {"state": "failed"}})
    bulk_id = started.get_json()["job"]["id"]
    assert client.post(f"/api/ops/jobs/{bulk_id}/cancel", headers=auth).get_json()["outcome"] == "cancelled"
    # An admin never sees it: it belongs to the operator, who has no institution.
    assert client.get(f"/api/ops/jobs/{bulk_id}", headers=factories.login(client, staff.admin_a)).status_code == 404
