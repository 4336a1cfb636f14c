"""/api/ops/workflows and /ops/workflows: the list (scope, filters, cursor pages), one workflow's
steps with their jobs and timings, the compensations run, its parameters without secrets, live
polling, and who may see what."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.jobs.workflows import STEP_JOB_TYPE, UNDO
from core.models import Job, Workflow
from tests import factories
from tests.web.pages.helpers import page_login

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SECRET_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2VjcmV0c2FsdA$notarealhashbutsecret"


def _workflow(db, owner, minutes, state="running", **columns) -> Workflow:
    workflow = Workflow(id=uuid.uuid4(), name="seed_institution", owner_id=owner.id if owner else None, state=state,
                        params=columns.pop("params", {"name": "Escola Nova", "slug": "nova"}),
                        context=columns.pop("context", {}), created_at=T0 + timedelta(minutes=minutes), **columns)
    db.add(workflow)
    db.flush()
    return workflow


def _step(db, workflow, step, state, start_s, end_s=None, error=None) -> Job:
    job = Job(id=uuid.uuid4(), type=STEP_JOB_TYPE, owner_id=workflow.owner_id, workflow_id=workflow.id, step=step,
              state=state, payload={"workflow": workflow.name, "step": step}, error=error,
              created_at=workflow.created_at + timedelta(seconds=start_s - 1),
              started_at=workflow.created_at + timedelta(seconds=start_s),
              finished_at=workflow.created_at + timedelta(seconds=end_s) if end_s is not None else None)
    db.add(job)
    return job


@pytest.fixture
def world(db, staff):
    """School A: a compensated seed (two steps done, the third failed, both undone), an older one
    still running; school B: one that succeeded."""
    a = staff.teacher_a
    running = _workflow(db, staff.admin_a, 0, context={"institution": {"id": 1}})
    _step(db, running, "institution", "succeeded", 1, 3)
    _step(db, running, "people", "running", 4)
    undone = _workflow(db, a, 10, state="compensated", error="step 'classes' failed: boom",
                       finished_at=T0 + timedelta(minutes=10, seconds=20),
                       params={"name": "Escola", "slug": "escola", "password_hash": SECRET_HASH,
                               "nested": {"api_token": "tok-123", "students": 5}},
                       context={"institution": {"id": 2}, "people": {"n": 5}})
    _step(db, undone, "institution", "succeeded", 1, 2)
    _step(db, undone, "people", "succeeded", 3, 5)
    _step(db, undone, "classes", "failed", 6, 7, error="boom")
    _step(db, undone, UNDO + "people", "succeeded", 8, 9)
    _step(db, undone, UNDO + "institution", "succeeded", 10, 12)
    other = _workflow(db, staff.admin_b, 20, state="succeeded", finished_at=T0 + timedelta(minutes=21))
    db.commit()
    return {"running": running, "undone": undone, "other": other}


def _ids(body) -> list[str]:
    return [item["id"] for item in body["items"]]


def test_lists_newest_first_in_scope(client, staff, world):
    everyone = client.get("/api/ops/workflows", headers=factories.login(client, staff.operator)).get_json()
    assert _ids(everyone) == [str(world[k].id) for k in ("other", "undone", "running")]
    undone = everyone["items"][1]
    assert (undone["steps_done"], undone["steps_total"], undone["duration_ms"]) == (2, 6, 20_000)
    assert undone["owner"]["email"] == staff.teacher_a.email
    mine = client.get("/api/ops/workflows", headers=factories.login(client, staff.admin_a)).get_json()
    assert _ids(mine) == [str(world[k].id) for k in ("undone", "running")]
    assert "email" not in mine["items"][0]["owner"]


@pytest.mark.parametrize(("query", "expected"), [
    ("state=running", ("running",)), ("state=compensated", ("undone",)), ("state=cancelled", ()),
    ("name=seed_institution", ("other", "undone", "running")), ("name=nothing_like_it", ()),
    ("owner={teacher_a}", ("undone",)), ("institution={school_b}", ("other",)),
])
def test_filters(client, staff, world, query, expected):
    query = query.format(teacher_a=staff.teacher_a.id, school_b=staff.school_b.id)
    body = client.get(f"/api/ops/workflows?{query}", headers=factories.login(client, staff.operator)).get_json()
    assert _ids(body) == [str(world[k].id) for k in expected]


@pytest.mark.parametrize(("query", "field"), [
    ("state=sleeping", "state"), ("name=", "name"), ("name=" + "x" * 65, "name"), ("name=a%20b", "name"),
    ("owner=-1", "owner"), ("before=1.2.3", "before"),
])
def test_bad_filters_are_400s_naming_the_field(client, staff, world, query, field):
    response = client.get(f"/api/ops/workflows?{query}", headers=factories.login(client, staff.operator))
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_pages_by_cursor(client, staff, world):
    auth = factories.login(client, staff.operator)
    first = client.get("/api/ops/workflows?size=2", headers=auth).get_json()
    second = client.get(f"/api/ops/workflows?size=2&after={first['next']}", headers=auth).get_json()
    assert _ids(first) + _ids(second) == [str(world[k].id) for k in ("other", "undone", "running")]
    assert second["next"] is None


def test_steps_timings_and_compensations(client, staff, world):
    body = client.get(f"/api/ops/workflows/{world['undone'].id}", headers=factories.login(client, staff.admin_a))
    assert body.status_code == 200 and "Retry-After" not in body.headers
    workflow = body.get_json()["workflow"]
    steps = {s["name"]: s for s in workflow["steps"]}
    assert [s["name"] for s in workflow["steps"]][:3] == ["institution", "people", "classes"]
    assert steps["people"]["state"] == "succeeded" and steps["people"]["duration_ms"] == 2000
    assert steps["people"]["job"]["queue_wait_ms"] == 1000
    assert steps["people"]["compensation"]["state"] == "succeeded"
    assert steps["classes"]["state"] == "failed" and steps["classes"]["job"]["error"] == "boom"
    assert steps["classes"]["compensation"] is None
    assert steps["grades"]["state"] == "pending" and steps["grades"]["job"] is None
    assert [(c["step"], c["state"]) for c in workflow["compensations"]] == [("people", "succeeded"),
                                                                           ("institution", "succeeded")]
    assert workflow["compensations"][1]["job"]["duration_ms"] == 2000


def test_secrets_in_the_parameters_never_show(client, staff, world):
    for person in (staff.operator, staff.admin_a):
        response = client.get(f"/api/ops/workflows/{world['undone'].id}", headers=factories.login(client, person))
        text = response.get_data(as_text=True)
        assert SECRET_HASH not in text and "tok-123" not in text
        params = response.get_json()["workflow"]["params"]
        assert params == {"name": "Escola", "slug": "escola", "password_hash": "[redacted]",
                          "nested": {"api_token": "[redacted]", "students": 5}}
    page_login(client, staff.operator)
    html = client.get(f"/ops/workflows/{world['undone'].id}").get_data(as_text=True)
    assert "argon2id" not in html and "tok-123" not in html and "[redacted]" in html


def test_a_running_workflow_is_polled(client, staff, world):
    auth = factories.login(client, staff.operator)
    first = client.get(f"/api/ops/workflows/{world['running'].id}", headers=auth)
    assert first.headers.get("Retry-After")
    steps = first.get_json()["workflow"]["steps"]
    assert [s["state"] for s in steps[:3]] == ["succeeded", "running", "pending"]
    again = client.get(f"/api/ops/workflows/{world['running'].id}", headers={**auth, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_outside_the_scope_is_404_and_not_console_staff_403(client, staff, world):
    admin_b = factories.login(client, staff.admin_b)
    assert client.get(f"/api/ops/workflows/{world['undone'].id}", headers=admin_b).status_code == 404
    assert client.get("/api/ops/workflows/123", headers=admin_b).status_code == 404
    for person in (staff.teacher_a, staff.student_a):
        auth = factories.login(client, person)
        assert client.get("/api/ops/workflows", headers=auth).status_code == 403
        assert client.get(f"/api/ops/workflows/{world['undone'].id}", headers=auth).status_code == 403


def test_the_pages(client, staff, world):
    page_login(client, staff.admin_a)
    html = client.get("/ops/workflows?state=&name=").get_data(as_text=True)
    assert f'data-workflow="{world["undone"].id}"' in html and f'data-workflow="{world["other"].id}"' not in html
    detail = client.get(f"/ops/workflows/{world['running'].id}").get_data(as_text=True)
    assert 'data-finished="false"' in detail and 'data-step="people"' in detail
    assert f'data-poll-url="/api/ops/workflows/{world["running"].id}"' in detail
    assert client.get(f"/ops/workflows/{world['other'].id}").status_code == 404
    assert client.get("/ops/workflows?state=sleeping").status_code == 400
