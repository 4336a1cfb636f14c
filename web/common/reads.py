"""Reads of one statement, outside the ORM, for the requests clients repeat many times a minute
(polling a job).

An ORM session around one SELECT costs four round trips more than the SELECT (the pool's
pre-ping, BEGIN, and the ROLLBACK when the session closes) and, in Python, more than the
statement itself: the identity map, and SQLAlchemy's per-execution work (cache key, execution
context, result metadata, pool checkout and checkin). Here a statement is compiled once per
dialect and run on a DBAPI cursor, its parameters and columns passed through the same type
processors SQLAlchemy applies (so a row reads the same as from `connection.execute`, on SQLite
and PostgreSQL alike):

- no transaction: the connections are in autocommit, where one SELECT is its own snapshot;
- no pre-ping: a read can always be repeated, so a connection the database dropped (RDS
  fail-over, idle reaping) costs one retry on a new connection instead of a round trip on
  every request. The ORM's pool keeps its pre-ping: a unit of work cannot simply be repeated;
- connections kept between reads in a stack of idle ones (taking and returning one is a
  list pop and append, atomic under the GIL). A connection is opened only when every idle one
  is in use, so a process holds at most as many as it has threads reading at once (a gunicorn
  web worker: 8), like a connection per thread, without tying one to a thread.

Database errors surface as SQLAlchemy's exceptions (e.g. OperationalError: 503), like any other."""
from __future__ import annotations

from collections import namedtuple
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import NullPool

from core.settings import Settings

EXTENSION = "aula_reads"


def reads() -> OneStatementReads:
    """The app's one-statement reads (web.create_app builds them with the app)."""
    return current_app.extensions[EXTENSION]


class Disconnected(Exception):
    """The database had dropped the connection a read ran on (the read may be retried)."""


class CompiledRead:
    """A SELECT compiled once for a dialect, with its parameters' bind processors and its
    columns' result processors, as SQLAlchemy would apply them."""

    def __init__(self, statement: sa.Select, dialect: Dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                      for name, bind in compiled.binds.items()}
        columns = list(statement.selected_columns)
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]
        self.processors = [(i, p) for i, p in enumerate(processors) if p is not None]
        self.row = namedtuple("ReadRow", [column.key for column in columns])  # type: ignore[misc]

    def parameters(self, values: dict[str, Any]) -> Any:
        bound = {name: (value if (process := self.binds[name]) is None else process(value))
                 for name, value in values.items()}
        if self.positions is None:
            return bound
        return tuple(bound[name] for name in self.positions)

    def typed(self, raw: Any) -> Any:
        if not self.processors:
            return self.row._make(raw)
        values = list(raw)
        for i, process in self.processors:
            values[i] = process(values[i])
        return self.row._make(values)


class OneStatementReads:
    def __init__(self, engine: Engine):
        self.engine = engine  # opens connections with its dialect's set-up; they are kept here, not in its pool
        self._idle: list[_Connection] = []
        self._generation = 0  # bumped when the idle connections are given up; older ones are closed on return
        self._compiled: dict[int, tuple[sa.Select, CompiledRead]] = {}

    @classmethod
    def beside(cls, settings: Settings, orm_engine: Engine) -> OneStatementReads:
        """Reads on the database of `settings`, whose connections close when `orm_engine`'s
        pool is disposed of (Database.dispose(): at shutdown, and by every test's app)."""
        reads = cls(_engine(settings))
        event.listen(orm_engine, "engine_disposed", lambda _engine: reads.close())
        return reads

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self

    def close(self) -> None:
        """Close the idle connections; one in use is closed when its read ends."""
        self._generation += 1
        while self._idle:
            try:
                connection = self._idle.pop()
            except IndexError:
                break
            connection.dbapi.close()

    def first(self, statement: sa.Select, values: dict[str, Any]) -> Any:
        """The first row of `statement` with these parameter values, its columns as
        attributes; None if there is none."""
        try:
            return self._first(statement, values)
        except Disconnected:
            # The database dropped its connections (a restart, a fail-over): the idle ones are
            # as dead as this one, so drop them all rather than find them one by one.
            self.close()
        return self._first(statement, values, retrying=True)

    def _first(self, statement: sa.Select, values: dict[str, Any], retrying: bool = False) -> Any:
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = self._connect()
        dialect = self.engine.dialect
        read: CompiledRead | None = None
        try:
            read = self._read(statement)
            cursor = connection.cursor(statement)
            cursor.execute(read.sql, read.parameters(values))
            raw = cursor.fetchone()
        except BaseException as exc:
            database_error = isinstance(exc, dialect.loaded_dbapi.Error)
            disconnected = database_error and dialect.is_disconnect(exc, connection.dbapi, None)
            connection.dbapi.close()  # whatever went wrong, a connection in doubt is not reused
            if not database_error:
                raise
            if disconnected and not retrying:
                raise Disconnected() from exc
            raise _wrapped(exc, dialect, read.sql if read else "", disconnected) from exc
        if connection.generation == self._generation:
            self._idle.append(connection)
        else:
            connection.dbapi.close()
        return None if raw is None else read.typed(raw)

    def _connect(self) -> _Connection:
        dialect = self.engine.dialect
        try:
            proxied = self.engine.raw_connection()
        except dialect.loaded_dbapi.Error as exc:  # the database is down, or refuses connections
            raise _wrapped(exc, dialect, "connect") from exc
        connection = proxied.dbapi_connection
        proxied.detach()  # ours from now on; closing it is ours too
        return _Connection(connection, self._generation)

    def _read(self, statement: sa.Select) -> CompiledRead:
        # Compiled on first use: the dialect knows the server once the first connection is open.
        entry = self._compiled.get(id(statement))
        if entry is None:
            entry = self._compiled[id(statement)] = (statement, CompiledRead(statement, self.engine.dialect))
        return entry[1]


class _Connection:
    """A DBAPI connection kept between reads, with a cursor per statement: a cursor that runs
    the same SQL again reuses its driver's adaptation of parameters and columns (psycopg's
    Transformer), which a new cursor would set up anew."""

    __slots__ = ("_cursors", "dbapi", "generation")

    def __init__(self, dbapi: Any, generation: int):
        self.dbapi = dbapi
        self.generation = generation
        self._cursors: dict[int, Any] = {}

    def cursor(self, statement: sa.Select) -> Any:
        cursor = self._cursors.get(id(statement))
        if cursor is None:
            cursor = self._cursors[id(statement)] = self.dbapi.cursor()
        return cursor


def _wrapped(exc: Exception, dialect: Dialect, sql: str, disconnected: bool = False) -> sa.exc.StatementError:
    """The SQLAlchemy exception SQLAlchemy would raise for this DBAPI error (OperationalError,
    IntegrityError, ...), without the parameters (a token's digest) in its message."""
    return sa.exc.DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
                                      connection_invalidated=disconnected, dialect=dialect)


def _engine(settings: Settings) -> Engine:
    """Connections to the database of core.db.make_engine, in autocommit. No pool of its own
    (NullPool): OneStatementReads keeps the connections."""
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        # A connection is used by one thread at a time, but not always by the same one.
        connect_args: dict[str, Any] = {"timeout": 15, "check_same_thread": False}
    else:
        connect_args = {"connect_timeout": 5}
        if settings.database_sslmode:
            connect_args["sslmode"] = settings.database_sslmode
        if settings.database_sslrootcert:
            connect_args["sslrootcert"] = settings.database_sslrootcert
    return sa.create_engine(url, connect_args=connect_args, isolation_level="AUTOCOMMIT", poolclass=NullPool)
