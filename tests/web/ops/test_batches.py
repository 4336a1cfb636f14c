"""/api/ops/batches and /ops/batches: the list (scope, filters, cursor pages), one batch (counters,
follow-up, creator, its jobs), live polling, and who may see what."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.models import Batch, Job
from tests import factories
from tests.web.pages.helpers import page_login

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _job(db, owner, state="succeeded", **columns) -> Job:
    job = Job(id=uuid.uuid4(), type=columns.pop("type", "email_chunk"), owner_id=owner.id if owner else None,
              state=state, payload={}, **columns)
    db.add(job)
    return job


def _batch(db, owner, minutes=0, total=3, succeeded=0, failed=0, completed=False, **columns) -> Batch:
    batch = Batch(id=uuid.uuid4(), owner_id=owner.id if owner else None, description=f"batch {minutes}", total=total,
                  succeeded=succeeded, failed=failed, created_at=T0 + timedelta(minutes=minutes),
                  completed_at=T0 + timedelta(minutes=minutes, seconds=30) if completed else None, **columns)
    db.add(batch)
    db.flush()
    return batch


@pytest.fixture
def world(db, staff):
    """Three batches of school A's teacher (the newest open), one of school B's, one of nobody."""
    a = staff.teacher_a
    creator = _job(db, a, type="activity_fanout", created_at=T0)
    db.flush()
    old = _batch(db, a, 1, total=2, succeeded=1, failed=1, completed=True, parent_job_id=creator.id)
    followup = _job(db, a, state="succeeded", type="teacher_summary", created_at=T0 + timedelta(minutes=2))
    db.flush()
    old.followup_type, old.followup_job_id = "teacher_summary", followup.id
    middle = _batch(db, a, 2, total=2, succeeded=2, completed=True)
    newest = _batch(db, a, 3, total=5, succeeded=2, failed=1, followup_type="teacher_summary",
                    parent_job_id=creator.id)
    for n, state in enumerate(("succeeded", "succeeded", "failed", "queued", "running")):
        _job(db, a, state, batch_id=newest.id, created_at=T0 + timedelta(minutes=3, seconds=n),
             error="boom" if state == "failed" else None)
    other = _batch(db, staff.teacher_b, 4)
    orphan = _batch(db, None, 5)
    db.commit()
    return {"old": old, "middle": middle, "newest": newest, "other": other, "orphan": orphan,
            "followup": followup, "creator": creator}


def _ids(body) -> list[str]:
    return [item["id"] for item in body["items"]]


def test_an_operator_lists_every_batch_newest_first(client, staff, world):
    body = client.get("/api/ops/batches", headers=factories.login(client, staff.operator)).get_json()
    assert _ids(body) == [str(world[k].id) for k in ("orphan", "other", "newest", "middle", "old")]
    old = body["items"][-1]
    assert (old["total"], old["succeeded"], old["failed"], old["pending"], old["state"]) == (2, 1, 1, 0, "completed")
    assert old["followup"]["id"] == str(world["followup"].id) and old["followup"]["state"] == "succeeded"
    assert old["owner"]["full_name"] == staff.teacher_a.full_name and old["owner"]["email"] == staff.teacher_a.email
    assert body["items"][2]["followup"] is None and body["items"][2]["followup_type"] == "teacher_summary"


def test_an_admin_lists_only_their_institutions_batches_without_emails(client, staff, world):
    body = client.get("/api/ops/batches", headers=factories.login(client, staff.admin_a)).get_json()
    assert _ids(body) == [str(world[k].id) for k in ("newest", "middle", "old")]
    assert "email" not in body["items"][0]["owner"]
    # Another institution's filter lists nothing for an admin; it is no way out of their scope.
    other = client.get(f"/api/ops/batches?institution={staff.school_b.id}", headers=factories.login(client, staff.admin_a))
    assert other.status_code == 200 and other.get_json()["items"] == []


@pytest.mark.parametrize(("query", "expected"), [
    ("state=open", ("orphan", "other", "newest")),
    ("state=completed", ("middle", "old")),
    ("owner={b}", ("other",)),
    ("institution={school_a}", ("newest", "middle", "old")),
    ("state=open&institution={school_a}", ("newest",)),
])
def test_filters(client, staff, world, query, expected):
    query = query.format(b=staff.teacher_b.id, school_a=staff.school_a.id)
    body = client.get(f"/api/ops/batches?{query}", headers=factories.login(client, staff.operator)).get_json()
    assert _ids(body) == [str(world[k].id) for k in expected]


@pytest.mark.parametrize(("query", "field"), [
    ("state=closed", "state"), ("state=", "state"), ("owner=x", "owner"), ("owner=0", "owner"),
    ("institution=99999999999", "institution"), ("after=nope", "after"), ("size=500", "size"),
])
def test_bad_filters_are_400s_naming_the_field(client, staff, world, query, field):
    response = client.get(f"/api/ops/batches?{query}", headers=factories.login(client, staff.operator))
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_pages_by_cursor_both_ways(client, staff, world):
    auth = factories.login(client, staff.operator)
    first = client.get("/api/ops/batches?size=2", headers=auth).get_json()
    second = client.get(f"/api/ops/batches?size=2&after={first['next']}", headers=auth).get_json()
    third = client.get(f"/api/ops/batches?size=2&after={second['next']}", headers=auth).get_json()
    assert _ids(first) + _ids(second) + _ids(third) == [
        str(world[k].id) for k in ("orphan", "other", "newest", "middle", "old")]
    assert third["next"] is None and second["page"] == 2
    back = client.get(f"/api/ops/batches?size=2&before={second['previous']}", headers=auth).get_json()
    assert _ids(back) == _ids(first)


def test_a_batch_with_its_counters_creator_followup_and_jobs(client, staff, world):
    newest = world["newest"]
    response = client.get(f"/api/ops/batches/{newest.id}?size=2", headers=factories.login(client, staff.admin_a))
    assert response.status_code == 200
    batch = response.get_json()["batch"]
    assert (batch["total"], batch["succeeded"], batch["failed"], batch["pending"]) == (5, 2, 1, 2)
    assert batch["created_by_job"]["id"] == str(world["creator"].id)
    assert batch["created_by_job"]["url"] == f"/ops/jobs/{world['creator'].id}"
    assert [j["state"] for j in batch["jobs"]["items"]] == ["succeeded", "succeeded"]
    assert batch["jobs"]["next"] and batch["jobs"]["total"] == 5
    rest = client.get(f"/api/ops/batches/{newest.id}?size=2&after={batch['jobs']['next']}",
                      headers=factories.login(client, staff.admin_a)).get_json()["batch"]["jobs"]
    assert [j["state"] for j in rest["items"]] == ["failed", "queued"]
    failed = client.get(f"/api/ops/batches/{newest.id}?job_state=failed",
                        headers=factories.login(client, staff.admin_a)).get_json()["batch"]["jobs"]
    assert [(j["state"], j["error"]) for j in failed["items"]] == [("failed", "boom")]


def test_an_open_batch_is_polled_and_a_finished_one_is_not(client, staff, world):
    auth = factories.login(client, staff.operator)
    open_ = client.get(f"/api/ops/batches/{world['newest'].id}", headers=auth)
    assert open_.headers.get("Retry-After") and open_.headers["ETag"]
    again = client.get(f"/api/ops/batches/{world['newest'].id}", headers={**auth, "If-None-Match": open_.headers["ETag"]})
    assert again.status_code == 304
    done = client.get(f"/api/ops/batches/{world['old'].id}", headers=auth)
    assert done.status_code == 200 and "Retry-After" not in done.headers


def test_a_completed_batch_is_still_polled_while_its_followup_runs(client, db, staff, world):
    world["followup"].state = "running"
    db.commit()
    response = client.get(f"/api/ops/batches/{world['old'].id}", headers=factories.login(client, staff.operator))
    assert response.headers.get("Retry-After")


def test_outside_the_scope_is_404_and_not_console_staff_403(client, staff, world):
    admin_b = factories.login(client, staff.admin_b)
    for key in ("newest", "orphan"):
        assert client.get(f"/api/ops/batches/{world[key].id}", headers=admin_b).status_code == 404
    assert client.get("/api/ops/batches/not-a-uuid", headers=admin_b).status_code == 404
    assert client.get(f"/api/ops/batches/{uuid.uuid4()}", headers=factories.login(client, staff.operator)).status_code == 404
    for person in (staff.teacher_a, staff.student_a):
        auth = factories.login(client, person)
        assert client.get("/api/ops/batches", headers=auth).status_code == 403
        assert client.get(f"/api/ops/batches/{world['newest'].id}", headers=auth).status_code == 403
    assert client.get("/api/ops/batches").status_code == 401


def test_the_pages(client, staff, world):
    page_login(client, staff.operator)
    html = client.get("/ops/batches?state=open").get_data(as_text=True)
    assert f'data-batch="{world["newest"].id}"' in html and f'data-batch="{world["old"].id}"' not in html
    assert 'aria-current="page">Batches' in html
    detail = client.get(f"/ops/batches/{world['newest'].id}?job_state=")
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200 and 'data-count="pending">2<' in text
    assert f'data-poll-url="/api/ops/batches/{world["newest"].id}"' in text and 'data-finished="false"' in text
    assert text.count("data-job=") == 5 and f"/ops/jobs/{world['creator'].id}" in text
    assert client.get("/ops/batches?state=closed").status_code == 400


def test_the_pages_scope(client, staff, world):
    page_login(client, staff.admin_b)
    assert client.get(f"/ops/batches/{world['newest'].id}").status_code == 404
    assert f'data-batch="{world["newest"].id}"' not in client.get("/ops/batches").get_data(as_text=True)
    client.post("/logout", data={})
    other = client.application.test_client()
    page_login(other, staff.teacher_a)
    assert other.get("/ops/batches").status_code == 403
