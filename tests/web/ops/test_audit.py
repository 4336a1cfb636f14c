"""/api/ops/audit and /ops/audit: newest first by cursor, filters, who sees which entries
(operators all; an admin only their own institution's staff's), and links to jobs."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.models.ops import AuditEntry
from tests import factories
from tests.web.pages.helpers import page_login

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
JOB_ID = uuid.UUID("5238b684-6bbf-4e10-821c-9a9ab9869a13")


@pytest.fixture
def world(db, staff):
    rows = [
        (staff.admin_a, "reprocess", f"job:{JOB_ID}", 1, {"reason": "retry it"}),
        (staff.operator, "bulk_reprocess", "filter", 500, {"filter": {"state": "failed"}}),
        (staff.admin_b, "cancel", f"job:{uuid.uuid4()}", 1, {}),
        (staff.admin_a, "cancel", "job:not-a-uuid", 1, {"token": "abc-secret"}),
        (staff.operator, "pause", "type:email", None, {}),
    ]
    entries = []
    for n, (actor, action, target, count, detail) in enumerate(rows):
        entry = AuditEntry(actor_id=actor.id, action=action, target=target, count=count, detail=detail,
                           created_at=T0 + timedelta(minutes=n))
        db.add(entry)
        db.flush()
        entries.append(entry)
    db.commit()
    return entries


def _ids(body) -> list[int]:
    return [item["id"] for item in body["items"]]


def test_an_operator_sees_every_entry_newest_first(client, staff, world):
    body = client.get("/api/ops/audit", headers=factories.login(client, staff.operator)).get_json()
    assert _ids(body) == [e.id for e in reversed(world)]
    pause = body["items"][0]
    assert pause["actor"]["full_name"] == staff.operator.full_name and pause["actor"]["role"] == "operator"
    assert pause["target"] == "type:email" and pause["target_url"] is None and pause["count"] is None
    first = body["items"][-1]
    assert first["target_url"] == f"/ops/jobs/{JOB_ID}" and first["count"] == 1
    assert first["detail"] == {"reason": "retry it"}
    assert body["items"][1]["target_url"] is None  # "job:" without a job id is no link
    assert body["items"][1]["detail"] == {"token": "[redacted]"}


def test_an_admin_sees_only_their_institutions_staff(client, staff, world):
    body = client.get("/api/ops/audit", headers=factories.login(client, staff.admin_a)).get_json()
    assert _ids(body) == [world[3].id, world[0].id]
    assert "email" not in body["items"][0]["actor"]
    other = client.get(f"/api/ops/audit?actor={staff.operator.id}", headers=factories.login(client, staff.admin_a))
    assert other.status_code == 200 and other.get_json()["items"] == []


@pytest.mark.parametrize(("query", "expected"), [
    ("action=cancel", (3, 2)), ("action=nothing", ()), ("actor={operator}", (4, 1)),
    ("action=cancel&actor={admin_b}", (2,)),
])
def test_filters(client, staff, world, query, expected):
    query = query.format(operator=staff.operator.id, admin_b=staff.admin_b.id)
    body = client.get(f"/api/ops/audit?{query}", headers=factories.login(client, staff.operator)).get_json()
    assert _ids(body) == [world[n].id for n in expected]


@pytest.mark.parametrize(("query", "field"), [
    ("action=", "action"), ("action=" + "a" * 33, "action"), ("action=%00", "action"), ("actor=me", "actor"),
    ("after=1.2", "after"), ("page=0", "page"),
])
def test_bad_filters_are_400s_naming_the_field(client, staff, world, query, field):
    response = client.get(f"/api/ops/audit?{query}", headers=factories.login(client, staff.operator))
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_pages_by_cursor_on_created_at_and_id(client, db, staff, world):
    # Two entries in the same microsecond: the id orders them.
    db.add_all([AuditEntry(actor_id=staff.operator.id, action="tie", target=None, detail={},
                           created_at=T0 + timedelta(minutes=9)) for _ in range(2)])
    db.commit()
    auth = factories.login(client, staff.operator)
    seen, cursor = [], None
    while True:
        body = client.get("/api/ops/audit?size=2" + (f"&after={cursor}" if cursor else ""), headers=auth).get_json()
        seen += _ids(body)
        cursor = body["next"]
        if cursor is None:
            break
    assert len(seen) == 7 and seen == sorted(seen, reverse=True)


def test_not_console_staff_403(client, staff, world):
    for person in (staff.teacher_a, staff.student_a):
        assert client.get("/api/ops/audit", headers=factories.login(client, person)).status_code == 403
    assert client.get("/api/ops/audit").status_code == 401


def test_the_page(client, staff, world):
    page_login(client, staff.admin_a)
    html = client.get("/ops/audit?action=&actor=").get_data(as_text=True)
    assert html.count("data-audit=") == 2 and f'href="/ops/jobs/{JOB_ID}"' in html
    assert "bulk_reprocess" not in html and "abc-secret" not in html
    assert client.get("/ops/audit?actor=x").status_code == 400
    client2 = client.application.test_client()
    page_login(client2, staff.teacher_a)
    assert client2.get("/ops/audit").status_code == 403
