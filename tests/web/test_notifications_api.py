"""The notification inbox API: paginated and filtered in SQL, the caller's own only."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.models import Notification
from tests import factories


@pytest.fixture
def people(db):
    school = factories.institution(db)
    me, other = factories.user(db, school, "student"), factories.user(db, school, "student")
    db.commit()
    return me, other


def test_45_notifications_in_pages_of_20_with_the_last_and_an_empty_page(client, db, people):
    me, other = people
    factories.notifications(db, me, 45)
    factories.notifications(db, other, 3)
    headers = factories.login(client, me)
    seen = []
    for page, expected in ((1, 20), (2, 20), (3, 5), (4, 0)):
        response = client.get(f"/api/notifications?page={page}&size=20", headers=headers)
        assert response.status_code == 200
        body = response.get_json()
        assert (body["page"], body["size"], body["total"], body["pages"], body["unread"]) == (page, 20, 45, 3, 45)
        assert len(body["items"]) == expected
        seen += [item["title"] for item in body["items"]]
    assert seen == [f"Note {i:02d}" for i in range(45, 0, -1)], "newest first, each once"
    item = client.get("/api/notifications?size=1", headers=headers).get_json()["items"][0]
    assert set(item) == {"id", "kind", "title", "body", "activity_id", "created_at", "read_at"}
    assert item["created_at"].endswith("Z") and item["read_at"] is None


def test_the_unread_filter_is_applied_in_sql(client, db, people):
    me, _ = people
    factories.notifications(db, me, 45, read_every=3)  # 15 read, 30 unread
    headers = factories.login(client, me)
    body = client.get("/api/notifications?unread=1&size=20&page=2", headers=headers).get_json()
    assert (body["total"], body["pages"], body["unread"], len(body["items"])) == (30, 2, 30, 10)
    assert all(item["read_at"] is None for item in body["items"])
    assert client.get("/api/notifications?unread=0", headers=headers).get_json()["total"] == 45


@pytest.mark.parametrize("query, field", [("page=0", "page"), ("page=x", "page"), ("size=101", "size"),
                                          ("size=-1", "size"), ("unread=maybe", "unread")])
def test_bad_page_size_or_unread_is_a_400_naming_the_field(client, people, query, field):
    me, _ = people
    response = client.get(f"/api/notifications?{query}", headers=factories.login(client, me))
    assert response.status_code == 400
    assert response.get_json()["field"] == field and response.get_json()["error"]


def test_mark_one_and_all_read(client, db, people):
    me, other = people
    mine = factories.notifications(db, me, 5)
    theirs = factories.notifications(db, other, 2)
    headers = factories.login(client, me)
    one = client.post(f"/api/notifications/{mine[0].id}/read", headers=headers)
    assert one.status_code == 200
    assert one.get_json()["unread"] == 4 and one.get_json()["notification"]["read_at"]
    again = client.post(f"/api/notifications/{mine[0].id}/read", headers=headers)
    assert again.status_code == 200 and again.get_json()["notification"]["read_at"] == one.get_json()["notification"]["read_at"]

    everything = client.post("/api/notifications/read-all", headers=headers)
    assert everything.status_code == 200 and everything.get_json()["unread"] == 0
    assert client.get("/api/notifications?unread=1", headers=headers).get_json()["total"] == 0
    db.expire_all()
    assert all(db.get(Notification, n.id).read_at is None for n in theirs), "only my own are marked"


def test_read_all_is_one_update_statement(client, db, people, web_app):
    me, _ = people
    factories.notifications(db, me, 30)
    headers = factories.login(client, me)
    statements: list[str] = []
    engine = web_app.extensions["aula"].db.engine

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.post("/api/notifications/read-all", headers=headers).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE NOTIFICATIONS")]
    assert len(updates) == 1, statements


def test_another_users_notification_is_404_and_unchanged(client, db, people):
    me, other = people
    theirs = factories.notifications(db, other, 1)[0]
    headers = factories.login(client, me)
    assert client.post(f"/api/notifications/{theirs.id}/read", headers=headers).status_code == 404
    assert client.post("/api/notifications/999999/read", headers=headers).status_code == 404
    db.expire_all()
    assert db.get(Notification, theirs.id).read_at is None


def test_the_inbox_needs_a_login(client):
    assert client.get("/api/notifications").status_code == 401
    assert client.post("/api/notifications/read-all").status_code == 401
