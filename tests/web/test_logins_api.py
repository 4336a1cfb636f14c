"""Logins end on the server: POST /api/logout revokes the token it is called with, the page's
logout ends its cookie wherever it was copied, and a user lists and revokes their logins."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from core import auth
from core.models import ApiToken
from tests import factories
from tests.web.pages.helpers import csrf_token, page_login


def _works(client, headers=None) -> bool:
    status = client.get(f"/api/jobs/{uuid.uuid4()}", headers=headers or {}).status_code
    assert status in (401, 404)
    return status == 404


def test_logout_revokes_the_bearer_token_it_is_called_with(client, person):
    first, second = factories.login(client, person), factories.login(client, person)
    response = client.post("/api/logout", headers=first)
    assert response.status_code == 200
    assert not _works(client, first), "a logged-out token must stop working"
    assert _works(client, second), "only the token the call was made with ends"
    assert client.post("/api/logout", headers=first).status_code == 401


def test_a_cookie_copied_before_logout_no_longer_works_after_it(client, web_app, person):
    page_login(client, person)
    copied = client.get_cookie("session")
    assert copied is not None
    assert client.get("/teacher/classes").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/teacher/classes")}).status_code == 302

    thief = web_app.test_client()
    thief.set_cookie("session", copied.value)
    page = thief.get("/teacher/classes")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert thief.get("/api/notifications").status_code == 401


def test_a_user_lists_their_logins_and_revokes_one(client, web_app, person, db):
    stranger = factories.user(db, person.institution, "teacher")
    db.commit()
    browser = web_app.test_client()
    page_login(browser, person)
    api = factories.login(client, person)
    other_api = factories.login(client, person)
    strangers = factories.login(client, stranger)

    listed = client.get("/api/tokens", headers=api)
    assert listed.status_code == 200
    items = listed.get_json()["items"]
    assert sorted(i["kind"] for i in items) == ["bearer", "bearer", "browser"]
    assert [i["current"] for i in items].count(True) == 1
    assert "token_hash" not in str(items) and "token" not in {k for i in items for k in i}

    browser_login = next(i for i in items if i["kind"] == "browser")
    assert client.delete(f"/api/tokens/{browser_login['id']}", headers=api).status_code == 200
    page = browser.get("/teacher/classes")
    assert page.status_code == 302, "the revoked browser session is logged out"

    # Someone else's login, an unknown one, or one already revoked: 404, and nothing changes.
    stranger_id = client.get("/api/tokens", headers=strangers).get_json()["items"][0]["id"]
    for token_id in (stranger_id, 999_999, browser_login["id"]):
        assert client.delete(f"/api/tokens/{token_id}", headers=api).status_code == 404
    assert _works(client, strangers) and _works(client, other_api)


def test_the_browser_session_revokes_through_the_api_with_its_csrf_token(client, person):
    page_login(client, person)
    token = csrf_token(client, "/teacher/classes")
    assert client.post("/api/logout").status_code == 400, "a cookie-authenticated change needs the CSRF token"
    assert client.post("/api/logout", headers={"X-CSRFToken": token}).status_code == 200
    assert client.get("/teacher/classes").status_code == 302


def test_logging_in_in_a_loop_keeps_a_bounded_number_of_logins(client, db, person, monkeypatch):
    monkeypatch.setattr(auth, "MAX_LOGINS_PER_USER", 3)
    tokens = [factories.login(client, person) for _ in range(5)]
    assert db.scalar(sa.select(sa.func.count(ApiToken.id)).where(ApiToken.user_id == person.id)) == 3
    assert [_works(client, t) for t in tokens] == [False, False, True, True, True], "the oldest end first"
