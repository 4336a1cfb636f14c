"""Engine, sessions and the declarative base.

One session per web request and one per sqsd POST (= one job attempt); Flask's app-context
teardown closes it, so no session outlives the unit of work it belongs to.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from core.settings import Settings

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend.

    SQLite has no timezone type; storing naive UTC and re-attaching UTC on the way out keeps
    comparisons in SQL (lease expiry, due retries) correct on both SQLite and PostgreSQL.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use core.db.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def make_engine(database_url: str, sslmode: str | None = None, sslrootcert: str | None = None) -> Engine:
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 5}
    # RDS: DATABASE_SSLMODE=verify-full with DATABASE_SSLROOTCERT pointing at the RDS CA bundle.
    if sslmode:
        connect_args["sslmode"] = sslmode
    if sslrootcert:
        connect_args["sslrootcert"] = sslrootcert
    # pre_ping: RDS fail-over and idle-connection reaping must not surface as job failures.
    return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web tier read while the worker writes; busy_timeout makes writers queue
    # instead of failing at once when web, worker and cron touch the file together.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def insert_or_ignore(session: Session, model: type, conflict_columns: list[str], **values: Any) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on both backends: inserting a row whose unique key
    exists neither raises nor aborts the transaction. Returns whether a row was inserted."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    # preserve_rowcount: without it SQLAlchemy reports no rowcount for an INSERT on psycopg.
    return session.execute(statement.execution_options(preserve_rowcount=True)).rowcount == 1


# A successful ping stands for this long: /healthz is asked often (the load balancer, every
# instance's monitoring, a benchmark), and a database that goes away shows within that time.
PING_FRESH_SECONDS = 1.0
# A ping still unanswered after this long counts as a failure, so a database that stops
# answering (no refusal, just silence) still shows within a few seconds.
PING_OVERDUE_SECONDS = 3.0


class Reachability:
    """Whether the database answers, for /healthz: one answer shared by every thread of the
    process. A success is reused for PING_FRESH_SECONDS; a failure is not (while the database is
    down each check tries again, so its return shows at once). At most one thread pings at a
    time; the others answer with the last result meanwhile instead of queueing behind it."""

    def __init__(self, ping: Callable[[], None], *, fresh: float = PING_FRESH_SECONDS,
                 overdue: float = PING_OVERDUE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._ping = ping
        self._fresh = fresh
        self._overdue = overdue
        self._clock = clock
        self._pinging = threading.Lock()
        # (reachable, error, when answered): one attribute, so readers never see half an update.
        self._last: tuple[bool, str | None, float] | None = None
        self._ping_started = 0.0

    def check(self) -> tuple[bool, str | None]:
        """(reachable, why not)."""
        last = self._last
        if last is not None and last[0] and self._clock() - last[2] < self._fresh:
            return last[0], last[1]
        asked_at = self._clock()
        if last is None:
            with self._pinging:  # the very first check waits: there is no answer to give yet
                return self._refresh(asked_at)
        if self._pinging.acquire(blocking=False):
            try:
                return self._refresh(asked_at)
            finally:
                self._pinging.release()
        if self._clock() - self._ping_started > self._overdue:
            return False, f"the database has not answered a ping for {self._overdue:g} s"
        return last[0], last[1]

    def _refresh(self, asked_at: float) -> tuple[bool, str | None]:
        last = self._last
        if last is not None and last[2] > asked_at:
            return last[0], last[1]  # answered while this thread waited for the first ping
        self._ping_started = self._clock()
        try:
            self._ping()
            reachable, error = True, None
        except Exception as exc:  # noqa: BLE001  (any failure to reach the database means "not healthy")
            reachable, error = False, str(exc).strip() or type(exc).__name__
        self._last = (reachable, error, self._clock())
        if not reachable and (last is None or last[0]):
            log.error("health check: database unreachable: %s", error)
        elif reachable and last is not None and not last[0]:
            log.warning("health check: database reachable again")
        return reachable, error


class Database:
    def __init__(self, settings: Settings):
        self.engine = make_engine(settings.database_url, settings.database_sslmode, settings.database_sslrootcert)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        self.reachability = Reachability(self.ping)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
