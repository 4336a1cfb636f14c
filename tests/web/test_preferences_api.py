"""Notification preferences (issue 13, item 6): GET/PUT /api/me/preferences, the /preferences
page, and the signed /unsubscribe/<token> link (a GET only asks; the POST, a form's or a mail
client's one-click, turns the kind off, without a login)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.models import NotificationPreference
from core.unsubscribe import make_token
from tests import factories
from tests.web.pages.helpers import csrf_token, page_login


def _channels(db, user):
    db.expire_all()
    return dict(db.execute(sa.select(NotificationPreference.kind, NotificationPreference.channel)
                           .where(NotificationPreference.user_id == user.id)).all())


def test_defaults_then_a_choice_is_kept(client, db):
    student = factories.user(db, factories.institution(db))
    db.commit()
    auth = factories.login(client, student)
    body = client.get("/api/me/preferences", headers=auth).get_json()
    assert {p["kind"]: p["channel"] for p in body["preferences"]} == {
        "activity_published": "email", "activity_changed": "email", "grade_posted": "email", "reminder": "email"}
    assert body["channels"] == ["email", "digest", "off"] and body["time_zone"] == "UTC"

    response = client.put("/api/me/preferences", json={"preferences": {"grade_posted": "digest", "reminder": "off"}},
                          headers=auth)
    assert response.status_code == 200
    assert {p["kind"]: p["channel"] for p in response.get_json()["preferences"]}["grade_posted"] == "digest"
    assert _channels(db, student) == {"grade_posted": "digest", "reminder": "off"}
    client.put("/api/me/preferences", json={"preferences": {"grade_posted": "email"}}, headers=auth)
    assert _channels(db, student) == {"grade_posted": "email", "reminder": "off"}


@pytest.mark.parametrize("body, field", [
    ({"preferences": {"nope": "email"}}, "preferences.nope"),
    ({"preferences": {"grade_posted": "sms"}}, "preferences.grade_posted"),
    ({"preferences": {"grade_posted": None}}, "preferences.grade_posted"),
    ({"preferences": {}}, "preferences"), ({"preferences": []}, "preferences"), ({}, "preferences"),
    ({"preferences": {"reminder": "off"}, "extra": 1}, "extra"),
])
def test_bad_choices_are_400s_naming_the_field_and_change_nothing(client, db, body, field):
    student = factories.user(db, factories.institution(db))
    db.commit()
    response = client.put("/api/me/preferences", json=body, headers=factories.login(client, student))
    assert response.status_code == 400 and response.get_json()["field"] == field
    assert _channels(db, student) == {}


def test_the_api_needs_a_login(client):
    assert client.get("/api/me/preferences").status_code == 401
    assert client.put("/api/me/preferences", json={"preferences": {"reminder": "off"}}).status_code == 401


def test_the_preferences_page_saves_every_kind(client, db):
    student = factories.user(db, factories.institution(db))
    db.commit()
    page_login(client, student)
    page = client.get("/preferences").get_data(as_text=True)
    assert 'name="channel-grade_posted" value="email" checked' in page
    form = {"csrf_token": csrf_token(client, "/preferences"), "channel-activity_published": "email",
            "channel-activity_changed": "off", "channel-grade_posted": "digest", "channel-reminder": "email"}
    response = client.post("/preferences", data=form)
    assert response.status_code == 302 and "saved=1" in response.headers["Location"]
    assert _channels(db, student) == {"activity_changed": "off", "grade_posted": "digest"}
    assert 'name="channel-grade_posted" value="digest" checked' in client.get("/preferences?saved=1").get_data(
        as_text=True)
    bad = client.post("/preferences", data={**form, "channel-reminder": "sms"})
    assert bad.status_code == 400 and "Choose one of the options" in bad.get_data(as_text=True)
    no_token = client.post("/preferences", data={k: v for k, v in form.items() if k != "csrf_token"})
    assert no_token.status_code == 400


def test_unsubscribe_asks_on_get_and_turns_the_kind_off_on_post_without_a_login(client, web_app, db):
    student = factories.user(db, factories.institution(db))
    db.commit()
    secret = web_app.extensions["aula"].settings.secret_key
    token = make_token(secret, student.email, "grade_posted")

    confirm = client.get(f"/unsubscribe/{token}")
    assert confirm.status_code == 200 and "My work was graded" in confirm.get_data(as_text=True)
    assert _channels(db, student) == {}  # a GET (a mail scanner's prefetch) changes nothing

    done = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})  # RFC 8058, no CSRF
    assert done.status_code == 200 and "data-unsubscribed" in done.get_data(as_text=True)
    assert _channels(db, student) == {"grade_posted": "off"}
    assert client.post(f"/unsubscribe/{token}").status_code == 200  # again: still off, no error
    assert _channels(db, student) == {"grade_posted": "off"}


def test_the_digest_link_turns_off_every_kind_sent_by_digest(client, web_app, db):
    student = factories.user(db, factories.institution(db))
    db.add_all([NotificationPreference(user_id=student.id, kind="grade_posted", channel="digest"),
                NotificationPreference(user_id=student.id, kind="reminder", channel="digest"),
                NotificationPreference(user_id=student.id, kind="activity_published", channel="email")])
    db.commit()
    token = make_token(web_app.extensions["aula"].settings.secret_key, student.email, "digest")
    assert client.post(f"/unsubscribe/{token}").status_code == 200
    assert _channels(db, student) == {"grade_posted": "off", "reminder": "off", "activity_published": "email"}


@pytest.mark.parametrize("token", ["garbage", "a" * 1500])
def test_a_forged_or_stale_link_is_a_404_and_changes_nothing(client, web_app, db, token):
    student = factories.user(db, factories.institution(db))
    db.commit()
    assert client.get(f"/unsubscribe/{token}").status_code == 404
    assert client.post(f"/unsubscribe/{token}").status_code == 404
    other_secret = make_token("some-other-secret-entirely-different", student.email, "grade_posted")
    assert client.post(f"/unsubscribe/{other_secret}").status_code == 404
    gone = make_token(web_app.extensions["aula"].settings.secret_key, "nobody@example.test", "grade_posted")
    assert client.post(f"/unsubscribe/{gone}").status_code == 404
    assert _channels(db, student) == {}
