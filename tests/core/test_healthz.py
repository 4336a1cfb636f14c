"""/healthz answers from one cached ping per process (core.db.Reachability): cheap to ask, yet a
database that goes away turns it into a 503 within seconds, and its return back into a 200.

The outages are real: PostgreSQL behind a proxy that is cut (the shared server is never
stopped), a throwaway SQLite file that disappears."""
from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import PING_FRESH_SECONDS, PING_OVERDUE_SECONDS, Reachability
from tests.conftest import make_settings
from tests.core.jobs.gate import Gate

# Long enough for the refresh window, the overdue limit and a slow machine; only reached when
# the 503 (or the 200) never comes.
DEADLINE = PING_FRESH_SECONDS + PING_OVERDUE_SECONDS + 20


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Database:
    """A ping that succeeds or fails as told, counting its calls, taking a moment of the clock;
    `hold` makes pings wait."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.up = True
        self.pings = 0
        self.hold: threading.Event | None = None
        self.pinging = threading.Event()

    def ping(self) -> None:
        self.pings += 1
        self.pinging.set()
        if self.hold is not None:
            self.hold.wait(30)
        self.clock.now += 0.01
        if not self.up:
            raise ConnectionRefusedError("connection refused")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database(clock) -> Database:
    return Database(clock)


@pytest.fixture
def reachability(database, clock) -> Reachability:
    return Reachability(database.ping, fresh=1.0, overdue=3.0, clock=clock)


def test_a_success_is_reused_within_its_window(reachability, database, clock):
    assert reachability.check() == (True, None)
    clock.now += 0.9
    assert [reachability.check() for _ in range(100)] == [(True, None)] * 100
    assert database.pings == 1
    clock.now += 0.2
    assert reachability.check() == (True, None) and database.pings == 2


def test_a_database_gone_shows_at_the_next_refresh_and_its_return_at_once(reachability, database, clock):
    reachability.check()
    database.up = False
    clock.now += 1.1
    assert reachability.check() == (False, "connection refused")
    # A failure is not reused: each check asks again, so the database's return shows at once.
    assert reachability.check() == (False, "connection refused") and database.pings == 3
    database.up = True
    assert reachability.check() == (True, None)


def test_one_thread_pings_while_the_others_answer_with_the_last_result(reachability, database, clock):
    reachability.check()
    clock.now += 1.1
    database.hold = threading.Event()
    database.pinging.clear()
    answers = []
    refresher = threading.Thread(target=lambda: answers.append(reachability.check()))
    refresher.start()
    try:
        assert database.pinging.wait(30)
        # While that ping is out, every other check answers at once, with the last result.
        assert [reachability.check() for _ in range(20)] == [(True, None)] * 20
        assert database.pings == 2
        clock.now += 3.1  # the ping has not answered for longer than `overdue`
        reachable, why = reachability.check()
        assert not reachable and "has not answered a ping for 3 s" in why
    finally:
        database.hold.set()
        refresher.join(30)
    assert answers == [(True, None)]


def test_the_first_checks_wait_for_the_first_answer(reachability, database):
    database.hold = threading.Event()
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(reachability.check())) for _ in range(5)]
    for thread in threads:
        thread.start()
    assert database.pinging.wait(30)
    database.hold.set()
    for thread in threads:
        thread.join(30)
    assert answers == [(True, None)] * 5 and database.pings == 1


# ---- the app, with a real database that goes away ----

class Outage:
    """The app's database, and a way to make it go away and come back."""

    url: str

    def stop(self, app) -> None: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


class PostgresOutage(Outage):
    """The test database through a proxy: stopping it cuts every connection and refuses new ones."""

    def __init__(self, database_url: str):
        self.target = sa.engine.make_url(database_url)
        self.gate = Gate(upstream=(self.target.host or "127.0.0.1", self.target.port or 5432), delay=0)
        self.url = self.target.set(host="127.0.0.1", port=self.gate.port).render_as_string(hide_password=False)

    def stop(self, app) -> None:
        self.gate.close()

    def start(self) -> None:
        self.gate = Gate(upstream=(self.target.host or "127.0.0.1", self.target.port or 5432), delay=0,
                         port=self.gate.port)

    def close(self) -> None:
        self.gate.close()


class SqliteOutage(Outage):
    """A throwaway copy of the test database: stopping it takes the file away and the
    connections open to it with it (what a stopped database server does to its clients)."""

    def __init__(self, database_url: str, tmp_path: Path):
        self.home = tmp_path / "outage"
        self.home.mkdir()
        shutil.copy(sa.engine.make_url(database_url).database, self.home / "aula.sqlite3")
        self.url = f"sqlite:///{self.home / 'aula.sqlite3'}"

    def stop(self, app) -> None:
        os.rename(self.home, self.home.with_suffix(".stopped"))
        app.extensions["aula"].db.engine.dispose()

    def start(self) -> None:
        os.rename(self.home.with_suffix(".stopped"), self.home)

    def close(self) -> None:
        if self.home.with_suffix(".stopped").exists():
            self.start()


@pytest.fixture
def outage(database_url, tmp_path) -> Iterator[Outage]:
    made = PostgresOutage(database_url) if database_url.startswith("postgresql") else SqliteOutage(database_url, tmp_path)
    try:
        yield made
    finally:
        made.close()


def _until(client, status: int) -> list[int]:
    """Ask /healthz until it answers `status`; every answer on the way."""
    seen = []
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        seen.append(client.get("/healthz").status_code)
        if seen[-1] == status:
            return seen
        time.sleep(0.05)
    pytest.fail(f"/healthz never answered {status} (answers: {sorted(set(seen))})")


@pytest.mark.parametrize("role", ["web", "worker"])
def test_healthz_is_503_soon_after_the_database_goes_and_200_once_it_is_back(role, outage, aws):
    from web import create_app as web
    from worker import create_app as worker

    app = (web if role == "web" else worker)(make_settings(role, outage.url, aws))
    pings = []
    sa.event.listen(app.extensions["aula"].db.engine, "before_cursor_execute",
                    lambda _conn, _cursor, statement, *_: pings.append(statement) if statement == "SELECT 1" else None)
    try:
        client = app.test_client()
        answers = [client.get("/healthz") for _ in range(50)]
        assert {answer.status_code for answer in answers} == {200}
        assert answers[0].get_json() == {"status": "ok", "role": role, "database": "ok"}
        assert len(pings) < len(answers)  # answered from the cached ping, not one ping each

        outage.stop(app)
        on_the_way = _until(client, 503)
        assert set(on_the_way) <= {200, 503}  # the cached success, then the failure; never a 500
        assert client.get("/healthz").get_json() == {"status": "unavailable", "role": role, "database": "unreachable"}

        outage.start()
        assert set(_until(client, 200)) <= {200, 503}
    finally:
        app.extensions["aula"].close()
