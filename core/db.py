"""Engine, sessions and the declarative base.

One session per web request and one per sqsd POST (= one job attempt); Flask's app-context
teardown closes it, so no session outlives the unit of work it belongs to.
"""
from __future__ import annotations

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


class Database:
    def __init__(self, settings: Settings):
        self.engine = make_engine(settings.database_url, settings.database_sslmode, settings.database_sslrootcert)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
