"""The inbox page: paginated, unread filter, mark one / all read with CSRF, header badge."""
from __future__ import annotations

import re

import pytest

from core.models import Notification
from tests import factories
from tests.web.pages.helpers import csrf_from, elements, page_login


def _badge(html: str) -> int:
    match = re.search(r"data-unread-count[^>]*>\s*(\d+)\s*<", html)
    assert match, "no unread badge in the header"
    return int(match.group(1))


@pytest.fixture
def people(db):
    school = factories.institution(db)
    me, other = factories.user(db, school, "student"), factories.user(db, school, "teacher")
    db.commit()
    return me, other


def test_the_inbox_pages_45_notifications_by_20(client, db, people):
    me, other = people
    factories.notifications(db, me, 45)
    factories.notifications(db, other, 2)
    page_login(client, me)
    titles = []
    for page, expected in ((1, 20), (2, 20), (3, 5), (4, 0)):
        response = client.get(f"/notifications?page={page}&size=20")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        items = elements(html, "li", "data-notification")
        assert len(items) == expected
        assert all(item["data-read"] == "false" for item in items)
        assert 'data-total="45"' in html and _badge(html) == 45
        assert len(elements(html, "button", "data-mark-read")) == expected
        titles += re.findall(r'<h2 class="title">(?:<span[^>]*>[^<]*</span>)?(Note \d+)</h2>', html)
    assert titles == [f"Note {i:02d}" for i in range(45, 0, -1)]
    assert "Body of 45" in client.get("/notifications?page=1&size=20").get_data(as_text=True)
    assert 'rel="next"' not in client.get("/notifications?page=3&size=20").get_data(as_text=True)


def test_bad_page_parameters_are_a_400_page(client, people):
    page_login(client, people[0])
    assert client.get("/notifications?page=0").status_code == 400
    assert client.get("/notifications?size=1000").status_code == 400
    assert client.get("/notifications?unread=perhaps").status_code == 400


def test_mark_one_read_then_all_and_the_badge_follows(client, db, people):
    me, _ = people
    rows = factories.notifications(db, me, 3)
    page_login(client, me)
    html = client.get("/notifications").get_data(as_text=True)
    assert _badge(html) == 3 and 'id="filter-unread"' in html and 'id="mark-all-read"' in html
    token = csrf_from(html)

    marked = client.post(f"/notifications/{rows[0].id}/read",
                         data={"csrf_token": token, "next": "/notifications?unread=1"})
    assert marked.status_code == 303 and marked.headers["Location"].endswith("/notifications?unread=1")
    html = client.get(marked.headers["Location"]).get_data(as_text=True)
    assert _badge(html) == 2
    assert [i["data-notification"] for i in elements(html, "li", "data-notification")] == \
        [str(rows[2].id), str(rows[1].id)], "the unread filter hides the read one"
    all_items = elements(client.get("/notifications").get_data(as_text=True), "li", "data-notification")
    assert {i["data-notification"]: i["data-read"] for i in all_items}[str(rows[0].id)] == "true"

    done = client.post("/notifications/read-all", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith("/notifications")
    html = client.get("/notifications").get_data(as_text=True)
    assert _badge(html) == 0
    assert {i["data-read"] for i in elements(html, "li", "data-notification")} == {"true"}
    assert not elements(html, "button", "data-mark-read")
    assert elements(client.get("/notifications?unread=1").get_data(as_text=True), "li", "data-notification") == []


def test_a_redirect_back_stays_on_the_site(client, db, people):
    me, _ = people
    row = factories.notifications(db, me, 1)[0]
    page_login(client, me)
    token = csrf_from(client.get("/notifications").get_data(as_text=True))
    response = client.post(f"/notifications/{row.id}/read", data={"csrf_token": token, "next": "https://evil.example/"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/notifications")


def test_another_users_notification_is_404_and_unchanged(client, db, people):
    me, other = people
    theirs = factories.notifications(db, other, 1)[0]
    page_login(client, me)
    token = csrf_from(client.get("/notifications").get_data(as_text=True))
    assert client.post(f"/notifications/{theirs.id}/read", data={"csrf_token": token}).status_code == 404
    db.expire_all()
    assert db.get(Notification, theirs.id).read_at is None


def test_a_post_without_the_csrf_token_is_400_and_changes_nothing(client, db, people):
    me, _ = people
    rows = factories.notifications(db, me, 2)
    page_login(client, me)
    assert client.post(f"/notifications/{rows[0].id}/read").status_code == 400
    assert client.post("/notifications/read-all", data={"csrf_token": "forged"}).status_code == 400
    db.expire_all()
    assert all(db.get(Notification, r.id).read_at is None for r in rows)
    assert _badge(client.get("/notifications").get_data(as_text=True)) == 2


def test_the_inbox_asks_for_a_login(client):
    response = client.get("/notifications")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_inbox_pager_follows_cursors_both_ways(client, db, people):
    from html import unescape

    me, _ = people
    factories.notifications(db, me, 45)
    page_login(client, me)
    first = client.get("/notifications?size=20").get_data(as_text=True)
    nxt = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert nxt and "after=" in nxt.group(1) and "page=" not in nxt.group(1)
    second = client.get(unescape(nxt.group(1))).get_data(as_text=True)
    titles = [t for t in re.findall(r'<h2 class="title">(?:<span[^>]*>[^<]*</span>)?([^<]+)</h2>', second)]
    assert titles == [f"Note {i:02d}" for i in range(25, 5, -1)] and "page 2 of 3" in second
    prev = re.search(r'<a rel="prev" href="([^"]+)"', second)
    assert prev and "before=" in prev.group(1)
    again = client.get(unescape(prev.group(1))).get_data(as_text=True)
    assert elements(again, "li", "data-notification") == elements(first, "li", "data-notification")
    assert 'rel="prev"' not in again


def test_past_the_count_cap_the_page_and_the_badge_say_at_least(client, db, people, monkeypatch):
    from web.common import pagination

    me, _ = people
    factories.notifications(db, me, 25)
    monkeypatch.setattr(pagination, "COUNT_CAP", 10)
    page_login(client, me)
    html = client.get("/notifications?size=20").get_data(as_text=True)
    assert 'data-total="10+"' in html and "10+ notifications, page 1 of 2+." in " ".join(html.split())
    assert re.search(r"data-unread-count[^>]*>\s*10\+\s*<", html)
    assert 'id="mark-all-read"' in html and 'id="mark-all-read" disabled' not in html
