"""Pausing and resuming a job type: GET /api/ops/pauses, PUT and DELETE /api/ops/pauses/<type>,
and the overview's forms. Operators only (admins see the pauses, may not change them), every
change audited, bad input a 4xx naming the field."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.jobs import pauses
from core.models.ops import AuditEntry, JobTypePause
from tests import factories
from tests.web.pages.helpers import csrf_token, page_login
from web.common.ops.pauses import REASON_MAX


@pytest.fixture(autouse=True)
def _fresh_cache():
    pauses.forget()
    yield
    pauses.forget()


def _audit(db) -> list[tuple[str, str, int | None]]:
    db.expire_all()
    return [(e.action, e.target, e.actor_id) for e in db.scalars(sa.select(AuditEntry).order_by(AuditEntry.id))]


def test_an_operator_pauses_changes_the_reason_and_resumes(client, db, staff):
    headers = factories.login(client, staff.operator)
    first = client.put("/api/ops/pauses/email", headers=headers, json={"reason": "  SES quota reached "})
    assert first.status_code == 201, first.get_json()
    pause = first.get_json()["pause"]
    assert (pause["type"], pause["label"], pause["reason"]) == ("email", "Email", "SES quota reached")
    assert pause["paused_by"] == {"id": staff.operator.id, "name": staff.operator.full_name}
    assert pauses.paused_types(db) == frozenset({"email"})  # this process sees it at once

    again = client.put("/api/ops/pauses/email", headers=headers, json={"reason": "still the quota"})
    assert again.status_code == 200 and again.get_json()["created"] is False
    listed = client.get("/api/ops/pauses", headers=headers).get_json()["pauses"]
    assert [(p["type"], p["reason"]) for p in listed] == [("email", "still the quota")]

    resumed = client.delete("/api/ops/pauses/email", headers=headers)
    assert resumed.status_code == 200 and resumed.get_json() == {"resumed": "email", "sent_now": 0}
    assert client.get("/api/ops/pauses", headers=headers).get_json() == {"pauses": []}
    assert pauses.paused_types(db) == frozenset()
    assert _audit(db) == [("pause", "type:email", staff.operator.id), ("pause_reason", "type:email", staff.operator.id),
                          ("resume", "type:email", staff.operator.id)]


def test_the_audit_entry_counts_the_jobs_held_and_let_go(client, db, staff):
    from core.jobs.outbox import new_job

    for n in range(3):
        new_job(db, "canary", {"note": str(n)}, None)
    db.commit()
    headers = factories.login(client, staff.operator)
    assert client.put("/api/ops/pauses/canary", headers=headers, json={"reason": "r"}).status_code == 201
    assert client.delete("/api/ops/pauses/canary", headers=headers).status_code == 200
    db.expire_all()
    entries = list(db.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)))
    assert [(e.action, e.count, e.detail["reason"]) for e in entries] == [("pause", 3, "r"), ("resume", 3, "r")]


def test_resuming_what_is_not_paused_is_404(client, staff):
    assert client.delete("/api/ops/pauses/email", headers=factories.login(client, staff.operator)).status_code == 404


@pytest.mark.parametrize("path", ["/api/ops/pauses/nope", "/api/ops/pauses/EMAIL", "/api/ops/pauses/" + "x" * 300])
def test_an_unknown_type_is_404(client, staff, path):
    headers = factories.login(client, staff.operator)
    assert client.put(path, headers=headers, json={"reason": "r"}).status_code == 404
    assert client.delete(path, headers=headers).status_code == 404


@pytest.mark.parametrize(("body", "status"), [
    ({}, 400), ({"reason": None}, 400), ({"reason": 5}, 400), ({"reason": ["a"]}, 400), ([], 400), ("text", 400),
    ({"reason": ""}, 422), ({"reason": "   "}, 422), ({"reason": "x" * (REASON_MAX + 1)}, 422),
    ({"reason": "a\x00b"}, 400),
])
def test_the_reason_is_required_and_bounded(client, db, staff, body, status):
    response = client.put("/api/ops/pauses/email", headers=factories.login(client, staff.operator), json=body)
    assert response.status_code == status, response.get_json()
    assert response.get_json().get("field") == "reason" or status == 400
    assert db.scalar(sa.select(sa.func.count()).select_from(JobTypePause)) == 0
    assert _audit(db) == []


def test_a_reason_of_the_longest_length_is_kept(client, db, staff):
    headers = factories.login(client, staff.operator)
    assert client.put("/api/ops/pauses/email", headers=headers, json={"reason": "y" * REASON_MAX}).status_code == 201


def test_an_admin_sees_the_pauses_but_may_not_change_them(client, db, staff):
    client.put("/api/ops/pauses/email", headers=factories.login(client, staff.operator), json={"reason": "quota"})
    headers = factories.login(client, staff.admin_a)
    listed = client.get("/api/ops/pauses", headers=headers).get_json()["pauses"]
    assert listed[0]["reason"] == "quota" and "paused_by" not in listed[0]
    assert client.put("/api/ops/pauses/report", headers=headers, json={"reason": "mine"}).status_code == 403
    assert client.put("/api/ops/pauses/report", headers=headers, data="not json").status_code == 403
    assert client.delete("/api/ops/pauses/email", headers=headers).status_code == 403
    assert pauses.paused_types(db) == frozenset({"email"})


@pytest.mark.parametrize("who", ["student_a", "teacher_a", "teacher_b"])
def test_students_and_teachers_are_refused(client, staff, who):
    headers = factories.login(client, getattr(staff, who))
    assert client.get("/api/ops/pauses", headers=headers).status_code == 403
    assert client.put("/api/ops/pauses/email", headers=headers, json={"reason": "x"}).status_code == 403
    assert client.delete("/api/ops/pauses/email", headers=headers).status_code == 403


def test_unauthenticated_is_401(client):
    assert client.get("/api/ops/pauses").status_code == 401
    assert client.put("/api/ops/pauses/email", json={"reason": "x"}).status_code == 401
    assert client.delete("/api/ops/pauses/email").status_code == 401


def test_the_overview_forms_pause_and_resume(client, db, staff):
    page_login(client, staff.operator)
    token = csrf_token(client, "/ops/")
    paused = client.post("/ops/pauses", data={"type": "report", "reason": "S3 outage", "csrf_token": token})
    assert paused.status_code == 303 and paused.headers["Location"].startswith("/ops/?done=paused")
    page = client.get(paused.headers["Location"]).get_data(as_text=True)
    assert "Paused report" in page and 'data-paused="report"' in page and "S3 outage" in page
    assert 'aria-label="Resume report"' in page

    bad = client.post("/ops/pauses", data={"type": "report", "reason": "", "csrf_token": token})
    assert bad.status_code == 422 and "reason: must not be empty" in bad.get_data(as_text=True)
    unknown = client.post("/ops/pauses", data={"type": "nope", "reason": "x", "csrf_token": token})
    assert unknown.status_code == 404

    resumed = client.post("/ops/pauses/report/resume", data={"csrf_token": token})
    assert resumed.status_code == 303
    assert "Resumed report" in client.get(resumed.headers["Location"]).get_data(as_text=True)
    assert [a for a, _t, _who in _audit(db)] == ["pause", "resume"]


def test_the_forms_need_the_csrf_token(client, db, staff):
    page_login(client, staff.operator)
    assert client.post("/ops/pauses", data={"type": "report", "reason": "x"}).status_code == 400
    assert client.post("/ops/pauses/report/resume", data={}).status_code == 400
    assert db.scalar(sa.select(sa.func.count()).select_from(JobTypePause)) == 0


def test_an_admin_cannot_pause_from_the_page_either(client, db, staff):
    page_login(client, staff.admin_a)
    token = csrf_token(client, "/ops/")
    response = client.post("/ops/pauses", data={"type": "report", "reason": "x", "csrf_token": token})
    assert response.status_code == 403
    assert db.scalar(sa.select(sa.func.count()).select_from(JobTypePause)) == 0
