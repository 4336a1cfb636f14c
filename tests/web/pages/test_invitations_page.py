"""The invitation page (/invitations/<token>): an open link sets a password by the app's rules
and logs in; a used, expired or unknown one shows its own page; the link is never cached."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core import invitations
from core.db import utcnow
from core.models import Invitation
from tests import factories
from tests.web.pages.helpers import csrf_token


def _invite(db, web_app, person, created=None):
    secret = web_app.extensions["aula"].settings.secret_key
    row = invitations.new_invitation(person.id, secret, created or utcnow())
    db.execute(sa.insert(Invitation).values(**row))
    person.password_hash = invitations.NO_PASSWORD
    db.commit()
    return f"/invitations/{invitations.token_for(secret, person.id, row['created_at'])}"


def test_an_open_link_sets_the_password_once_and_logs_in(client, db, web_app):
    person = factories.user(db, factories.institution(db), "student")
    path = _invite(db, web_app, person)
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer" and person.email in page.get_data(as_text=True)
    token = csrf_token(client, path)
    for password, confirm, problem in [("curta", "curta", "at least 10"), ("a long secret", "another one", "differ"),
                                       (person.email, person.email, "cannot be your email")]:
        refused = client.post(path, data={"password": password, "confirm": confirm, "csrf_token": token})
        assert refused.status_code == 422 and problem in refused.get_data(as_text=True)
    without_csrf = client.post(path, data={"password": "a long secret", "confirm": "a long secret"})
    assert without_csrf.status_code == 400
    done = client.post(path, data={"password": "a long secret", "confirm": "a long secret", "csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith("/student/classes")
    assert client.get("/student/classes").status_code == 200  # logged in
    db.expire_all()
    assert db.scalar(sa.select(Invitation.used_at).where(Invitation.user_id == person.id)) is not None
    assert client.get(path).status_code == 410


def test_expired_and_unknown_links_say_so(client, db, web_app):
    person = factories.user(db, factories.institution(db), "student")
    path = _invite(db, web_app, person, created=utcnow() - timedelta(days=8))
    expired = client.get(path)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert client.post(path, data={"password": "a long secret", "confirm": "a long secret",
                                   "csrf_token": csrf_token(client, "/login")}).status_code == 410
    forged = client.get(path[:-3] + "abc")
    assert forged.status_code == 404 and "not valid" in forged.get_data(as_text=True)
    assert client.get("/invitations/" + "x" * 300).status_code == 404


def test_an_account_without_a_password_cannot_log_in(client, db, web_app):
    person = factories.user(db, factories.institution(db), "student")
    _invite(db, web_app, person)
    for password in ("", invitations.NO_PASSWORD, "!invited"):
        assert client.post("/api/login", json={"email": person.email, "password": password or "x"}).status_code == 401
