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
    assert set(item) == {"id", "kind", "title", "body", "activity_id", "link", "created_at", "read_at"}
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


def _walk(client, headers, query: str) -> list[dict]:
    """Every page of the inbox, from the first, by its `next` cursors."""
    pages = [client.get(f"/api/notifications?{query}", headers=headers).get_json()]
    while pages[-1]["next"]:
        pages.append(client.get(f"/api/notifications?{query}&after={pages[-1]['next']}", headers=headers).get_json())
        assert len(pages) < 10
    return pages


def test_next_and_previous_cursors_walk_the_inbox_both_ways_ties_included(client, db, people):
    from datetime import UTC, datetime, timedelta

    me, other = people
    factories.notifications(db, me, 45)
    factories.notifications(db, other, 5)
    # Three more at the very instant of "Note 20": the order among them is by id, newest first.
    tie = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=20)
    db.add_all(Notification(user_id=me.id, kind="activity", title=f"Tie {i}", body="", dedupe_key=f"tie:{i}",
                            created_at=tie) for i in range(3))
    db.commit()
    headers = factories.login(client, me)
    by_number = [client.get(f"/api/notifications?size=20&page={n}", headers=headers).get_json() for n in (1, 2, 3)]
    pages = _walk(client, headers, "size=20")
    assert [p["page"] for p in pages] == [1, 2, 3] and [len(p["items"]) for p in pages] == [20, 20, 8]
    assert [p["items"] for p in pages] == [p["items"] for p in by_number], "the same pages either way"
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    assert {p["total"] for p in pages} == {48} and {p["total_exact"] for p in pages} == {True}
    # And back from the last page.
    back = [pages[-1]]
    while back[-1]["previous"]:
        back.append(client.get(f"/api/notifications?size=20&before={back[-1]['previous']}", headers=headers).get_json())
        assert len(back) < 10
    assert [p["page"] for p in back] == [3, 2, 1]
    assert [p["items"] for p in back] == [p["items"] for p in reversed(pages)]
    assert back[-1]["previous"] is None and back[-1]["next"] == pages[0]["next"]


def test_the_unread_filter_pages_by_cursor_too(client, db, people):
    me, _ = people
    factories.notifications(db, me, 45, read_every=3)
    headers = factories.login(client, me)
    pages = _walk(client, headers, "unread=1&size=20")
    items = [i for p in pages for i in p["items"]]
    assert len(items) == 30 and all(i["read_at"] is None for i in items) and len({i["id"] for i in items}) == 30


def test_past_the_count_cap_the_totals_say_at_least(client, db, people, monkeypatch):
    from web.common import pagination

    me, _ = people
    factories.notifications(db, me, 25)
    monkeypatch.setattr(pagination, "COUNT_CAP", 10)
    headers = factories.login(client, me)
    body = client.get("/api/notifications?size=20", headers=headers).get_json()
    assert (body["total"], body["total_exact"], body["unread"], body["unread_exact"]) == (10, False, 10, False)
    assert len(body["items"]) == 20 and body["next"] and body["pages"] >= 2
    last = client.get(f"/api/notifications?size=20&after={body['next']}", headers=headers).get_json()
    assert (last["page"], len(last["items"]), last["next"]) == (2, 5, None), "the cursor goes on past the count"


@pytest.mark.parametrize("query, field", [("after=bm9wZQ", "after"), ("before=%21%21", "before"),
                                          ("after=1.2&before=1.2.3", "after"), ("after=1.2.3&before=1.2", "before"),
                                          ("before=1.2.3.4", "before"), ("after=", "after")])
def test_what_is_not_a_cursor_is_a_400_naming_it(client, people, query, field):
    me, _ = people
    response = client.get(f"/api/notifications?{query}", headers=factories.login(client, me))
    assert response.status_code == 400 and response.get_json()["field"] == field
