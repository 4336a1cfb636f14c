"""The database connections job messages run on, kept from one message to the next.

A message takes an idle connection (or opens one when none is idle) and gives it back when it
is done; a sync gunicorn worker runs one message at a time, so in production each process
keeps exactly one. Keeping them saves what the engine's pool charges every checkout: its
pre-ping, a round trip per message, and the checkout and checkin in Python. The pre-ping is
what found a connection the database had dropped (an RDS fail-over, idle reaping); here the
claim does: on a dropped connection it runs again on a new one (worker/runner.py). A message
that ends in an error, or with a transaction still open, closes its connection instead of
giving it back, so the next message never inherits a broken or half-used one.

Taking and giving back is a list pop and append (atomic under the GIL), not tied to a thread,
so threads that come and go (tests run apps on several) leave nothing behind.
"""
from __future__ import annotations

import logging

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
EXTENSION = "aula_message_connections"


def connections() -> MessageConnections:
    """The app's kept connections (worker.create_app makes them)."""
    return current_app.extensions[EXTENSION]


class MessageConnections:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._idle: list[tuple[int, Connection]] = []
        # Bumped when the kept connections are given up (the engine disposed of); a connection
        # taken before is closed when it comes back.
        self._generation = 0
        # Database.dispose() (shutdown, every test's app) must close these too: the engine's
        # pool closes only the connections checked in to it.
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self

    def take(self) -> tuple[int, Connection]:
        while True:
            try:
                generation, connection = self._idle.pop()
            except IndexError:
                return self._generation, self.engine.connect()
            if generation == self._generation and not (connection.closed or connection.invalidated):
                return generation, connection
            _close(connection)

    def give_back(self, taken: tuple[int, Connection], clean: bool) -> None:
        """Keep the connection for the next message if the message left it `clean` (no error,
        no transaction open), else close it."""
        generation, connection = taken
        if generation != self._generation:
            _close(connection, invalidate=True)  # its engine was disposed of meanwhile
        elif clean and not (connection.closed or connection.invalidated or connection.in_transaction()):
            self._idle.append(taken)
        else:
            _close(connection)

    def close(self) -> None:
        self._generation += 1
        while self._idle:
            try:
                _generation, connection = self._idle.pop()
            except IndexError:
                break
            # Closed outright: the engine's pool was disposed of, and a connection checked in
            # to it now would stay open, unowned.
            _close(connection, invalidate=True)


def _close(connection: Connection, invalidate: bool = False) -> None:
    try:
        if invalidate:
            connection.invalidate()
        connection.close()
    except Exception:  # closing a dead connection must not hide what is being handled
        log.warning("could not close a database connection", exc_info=True)
