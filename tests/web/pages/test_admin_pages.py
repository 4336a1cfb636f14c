"""Admin pages: the seed form starts the workflow; its page shows the steps, live."""
from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from core.models import Institution, Workflow
from tests import factories
from tests.sqsd import pump
from tests.web.pages.helpers import csrf_from, elements, page_login

FORM = {"name": "Escola Página", "slug": "pagina", "students": "5", "initial_password": "a-long-secret-1"}


def _form_token(client) -> str:
    response = client.get("/admin")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="seed-form"' in html and 'id="start-seed"' in html
    for field in ("name", "slug", "students", "initial_password"):
        assert f'id="{field}"' in html
    return csrf_from(html)


def _state(html: str) -> str:
    match = re.search(r'data-workflow-state="([^"]+)"', html)
    assert match
    return match.group(1)


def test_the_seed_form_starts_the_workflow_and_its_page_follows_it(client, worker_client, db, sqs, aws, admin):
    page_login(client, admin)
    started = client.post("/admin/seeds", data={**FORM, "csrf_token": _form_token(client)})
    assert started.status_code == 303, started.get_data(as_text=True)
    location = started.headers["Location"]
    workflow_id = re.fullmatch(r"(?:http://localhost)?/admin/workflows/([0-9a-f-]{36})", location).group(1)
    workflow = db.get(Workflow, uuid.UUID(workflow_id))
    assert workflow.owner_id == admin.id and "password_hash" in workflow.params
    assert "a-long-secret-1" not in str(workflow.params), "only the hash is stored"

    html = client.get(location).get_data(as_text=True)
    assert _state(html) == "running"
    steps = elements(html, "li", "data-step")
    assert len(steps) == 6 and steps[0]["data-state"] in ("queued", "running")
    assert "/static/admin.js" in html and f'data-poll-url="/api/workflows/{workflow_id}"' in html

    # The script polls the JSON API with the session cookie; it answers Retry-After and an ETag.
    polled = client.get(f"/api/workflows/{workflow_id}")
    assert polled.status_code == 200 and polled.headers["Retry-After"] and polled.headers["ETag"]
    again = client.get(f"/api/workflows/{workflow_id}", headers={"If-None-Match": polled.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Retry-After"], "unchanged: keep polling at the interval"

    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=30)
    html = client.get(location).get_data(as_text=True)
    assert _state(html) == "succeeded"
    assert [s["data-state"] for s in elements(html, "li", "data-step")] == ["succeeded"] * 6
    assert 'data-finished="true"' in html
    final = client.get(f"/api/workflows/{workflow_id}")
    assert "Retry-After" not in final.headers, "a finished workflow tells the poller to stop"
    assert db.scalar(sa.select(Institution).where(Institution.slug == "pagina")) is not None

    home = client.get("/admin").get_data(as_text=True)
    assert [row["data-workflow"] for row in elements(home, "tr", "data-workflow")] == [workflow_id]


@pytest.mark.parametrize("change, field", [
    ({"slug": "Not A Slug"}, "slug"),
    ({"name": "  "}, "name"),
    ({"students": "0"}, "students"),
    ({"students": "lots"}, "students"),
    ({"initial_password": "short"}, "initial_password"),
])
def test_a_bad_field_re_renders_the_form_with_its_error(client, db, admin, change, field):
    page_login(client, admin)
    response = client.post("/admin/seeds", data={**FORM, **change, "csrf_token": _form_token(client)})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html and 'class="error"' in html and 'id="seed-form"' in html
    if field != "name":
        assert 'value="Escola Página"' in html, "what was typed is kept"
    assert 'a-long-secret-1' not in html, "the password is never echoed"
    assert db.scalar(sa.select(sa.func.count(Workflow.id))) == 0


def test_a_taken_slug_is_409_with_a_message(client, db, admin):
    page_login(client, admin)
    response = client.post("/admin/seeds", data={**FORM, "slug": admin.institution.slug,
                                                 "csrf_token": _form_token(client)})
    assert response.status_code == 409
    assert "exists or is being seeded" in response.get_data(as_text=True)
    first = client.post("/admin/seeds", data={**FORM, "csrf_token": _form_token(client)})
    assert first.status_code == 303
    second = client.post("/admin/seeds", data={**FORM, "csrf_token": _form_token(client)})
    assert second.status_code == 409 and "being seeded" in second.get_data(as_text=True)


def test_the_form_needs_its_csrf_token(client, db, admin):
    page_login(client, admin)
    assert client.post("/admin/seeds", data=FORM).status_code == 400
    assert db.scalar(sa.select(sa.func.count(Workflow.id))) == 0


def test_admin_pages_are_for_admins(client, db, admin):
    teacher = factories.user(db, admin.institution, "teacher")
    db.commit()
    page_login(client, teacher)
    assert client.get("/admin").status_code == 403
    token = csrf_from(client.get("/notifications").get_data(as_text=True))
    assert client.post("/admin/seeds", data={**FORM, "csrf_token": token}).status_code == 403
    assert db.scalar(sa.select(sa.func.count(Workflow.id))) == 0


def test_a_workflow_page_is_for_its_owner_and_admins_of_their_institution(client, db, admin):
    colleague = factories.user(db, admin.institution, "admin")
    teacher = factories.user(db, admin.institution, "teacher")
    stranger = factories.user(db, factories.institution(db), "admin")
    workflow = Workflow(name="seed_institution", owner_id=admin.id, params={"name": "X", "slug": "x"})
    db.add(workflow)
    db.commit()
    for person, status in ((admin, 200), (colleague, 200), (teacher, 404), (stranger, 404)):
        fresh = client.application.test_client()  # a cookie jar per person
        page_login(fresh, person)
        assert fresh.get(f"/admin/workflows/{workflow.id}").status_code == status, person.email
    page_login(client, admin)
    assert client.get("/admin/workflows/not-a-uuid").status_code == 404


def test_recent_workflows_are_paginated(client, db, admin):
    for i in range(5):
        db.add(Workflow(name="seed_institution", owner_id=admin.id, params={"name": f"S{i}", "slug": f"s{i}"}))
    db.commit()
    page_login(client, admin)
    counts = [len(elements(client.get(f"/admin?page={p}&size=2").get_data(as_text=True), "tr", "data-workflow"))
              for p in (1, 2, 3, 4)]
    assert counts == [2, 2, 1, 0]
    assert client.get("/admin?page=nope").status_code == 400
