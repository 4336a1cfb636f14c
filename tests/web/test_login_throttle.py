"""Login throttling (web/login_throttle.py): per account and per client address, in the
database, for the API and the login page alike, without telling which accounts exist."""
from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import LoginThrottle
from tests import factories
from tests.conftest import _app
from tests.web.pages.helpers import csrf_token
from web import login_throttle


@pytest.fixture
def clock(monkeypatch):
    """utcnow() of the throttle, moved by hand."""
    now = [utcnow()]
    monkeypatch.setattr(login_throttle, "utcnow", lambda: now[0])

    def advance(**delta: float) -> None:
        now[0] += timedelta(**delta)

    return advance


def _login(client, email, password="wrong password", address="203.0.113.7"):
    return client.post("/api/login", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_five_failures_lock_the_account_even_for_the_right_password(client, person, caplog):
    caplog.set_level(logging.WARNING, logger="web.login_throttle")
    assert [_login(client, person.email).status_code for _ in range(5)] == [401] * 5
    locked = _login(client, person.email, factories.PASSWORD)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 300
    assert locked.get_json()["retry_after"] == int(locked.headers["Retry-After"])
    assert "try again in" in locked.get_json()["error"]
    assert any("login locked" in r.getMessage() for r in caplog.records), "each lockout is logged"
    # Another address does not unlock the account: the lock is the account's.
    assert _login(client, person.email, factories.PASSWORD, address="198.51.100.1").status_code == 429


def test_the_lock_ends_and_grows_when_hit_again(client, person, clock):
    for _ in range(5):
        _login(client, person.email)
    first = int(_login(client, person.email).headers["Retry-After"])
    clock(seconds=first + 1)
    for _ in range(5):
        assert _login(client, person.email).status_code == 401
    second = _login(client, person.email)
    assert second.status_code == 429 and int(second.headers["Retry-After"]) >= 2 * first - 1
    clock(seconds=int(second.headers["Retry-After"]) + 1)
    assert _login(client, person.email, factories.PASSWORD).status_code == 200
    # A success clears the account's count and its lock history.
    row = _account_row(client.application, person.email)
    assert (row.failures, row.lockouts) == (0, 0)


def test_failures_outside_the_window_are_forgotten(client, person, clock):
    for _ in range(4):
        assert _login(client, person.email).status_code == 401
    clock(minutes=16)
    for _ in range(5):
        assert _login(client, person.email).status_code == 401
    assert _login(client, person.email).status_code == 429


def test_an_unknown_email_is_throttled_exactly_like_a_known_one(client, person):
    known = [_login(client, person.email).status_code for _ in range(6)]
    unknown = [_login(client, "nobody@example.test").status_code for _ in range(6)]
    assert known == unknown == [401] * 5 + [429]
    k, u = _login(client, person.email), _login(client, "nobody@example.test")
    assert k.get_json().keys() == u.get_json().keys()


def test_one_address_guessing_many_accounts_is_locked(client, db, person, monkeypatch):
    monkeypatch.setitem(login_throttle.LIMITS, "address",
                        login_throttle.Limit(8, timedelta(minutes=15), timedelta(minutes=5), timedelta(hours=24)))
    codes = [_login(client, f"guess{i}@example.test").status_code for i in range(9)]
    assert codes == [401] * 8 + [429]
    # Even an account with no failures of its own, from that address; but not from another address.
    assert _login(client, person.email, factories.PASSWORD).status_code == 429
    assert _login(client, person.email, factories.PASSWORD, address="198.51.100.1").status_code == 200


def test_successful_logins_from_one_address_never_lock_it(client, db, monkeypatch):
    """A whole school behind one NAT address: only failures count against the address."""
    monkeypatch.setitem(login_throttle.LIMITS, "address",
                        login_throttle.Limit(3, timedelta(minutes=15), timedelta(minutes=5), timedelta(hours=24)))
    school = factories.institution(db)
    students = [factories.user(db, school) for _ in range(6)]
    db.commit()
    for student in students:
        assert _login(client, student.email, factories.PASSWORD).status_code == 200


def test_the_count_holds_across_app_instances(client, person, web_app, database_url, aws):
    """Two apps on one database stand for two gunicorn workers or two instances."""
    other = _app("web", database_url, aws)
    try:
        second = other.test_client()
        for i in range(5):
            assert _login(client if i % 2 else second, person.email).status_code == 401
        assert _login(second, person.email, factories.PASSWORD).status_code == 429
        assert _login(client, person.email, factories.PASSWORD).status_code == 429
    finally:
        other.extensions["aula"].db.dispose()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="parallel writers need PostgreSQL")
def test_parallel_guesses_cannot_slip_past_the_limit(web_app, person, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers by itself; this is about PostgreSQL row locks")
    codes: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def guess() -> None:
        client = web_app.test_client()
        start.wait(timeout=30)
        code = _login(client, person.email).status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == [401] * 5 + [429] * 7


def test_the_login_page_is_throttled_too(client, person):
    for _ in range(5):
        response = client.post("/login", data={"email": person.email, "password": "wrong",
                                               "csrf_token": csrf_token(client)})
        assert response.status_code == 401
    response = client.post("/login", data={"email": person.email, "password": factories.PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert "Too many failed logins" in response.get_data(as_text=True)
    # The API shares the count: the account is locked there as well.
    assert _login(client, person.email, factories.PASSWORD, address="127.0.0.1").status_code == 429


def _account_row(app, email: str) -> LoginThrottle:
    with app.extensions["aula"].db.sessions() as session:
        return session.scalar(sa.select(LoginThrottle).where(
            LoginThrottle.key == login_throttle._key("account", email)))


@pytest.mark.parametrize("trusted, counted_as", [(0, "127.0.0.1"), (2, "203.0.113.9")])
def test_the_address_is_the_one_the_load_balancer_saw(database_url, aws, person, trusted, counted_as):
    """Behind the load balancer and nginx (TRUSTED_PROXIES=2) the client is the second address
    from the right of X-Forwarded-For; what a client writes there itself is never trusted."""
    from tests.conftest import make_settings
    from web import create_app

    app = create_app(make_settings("web", database_url, aws, TRUSTED_PROXIES=str(trusted)))
    try:
        client = app.test_client()
        spoofed = {"X-Forwarded-For": "10.9.9.9, 203.0.113.9, 172.31.0.5"}
        client.post("/api/login", json={"email": person.email, "password": "wrong"}, headers=spoofed)
        with app.extensions["aula"].db.sessions() as session:
            keys = set(session.scalars(sa.select(LoginThrottle.key).where(LoginThrottle.scope == "address")))
        assert keys == {login_throttle._key("address", counted_as)}
    finally:
        app.extensions["aula"].db.dispose()
