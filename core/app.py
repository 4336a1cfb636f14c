"""What both app factories share: settings, logging, database, clients, health and errors."""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from core.aws import AwsClients
from core.db import Database
from core.jobs.queue import SqsQueue
from core.jobs.sender import DRAIN_SECONDS, Sender
from core.logs import bind, configure_logging, start_context
from core.mail import Mailer
from core.metrics import JobMetrics
from core.parsing import MAX_ID
from core.settings import Settings
from core.storage import S3Storage

log = logging.getLogger(__name__)

# Request bodies larger than this answer 413 (nginx allows more, so the app answers it, in JSON
# or HTML): the largest legitimate body is an activity (a 20,000-character description).
MAX_REQUEST_BYTES = 1024 * 1024


def _up_to(limit: int) -> str:
    """A regular expression for the decimal numbers 1 to `limit` (no sign, no leading zero)."""
    digits = str(limit)
    options = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(map(int, digits)):
        low = 1 if i == 0 else 0
        if digit > low:
            options.append(f"{digits[:i]}[{low}-{digit - 1}][0-9]{{{len(digits) - i - 1}}}")
    options.append(digits)
    return "(?:" + "|".join(options) + ")"


class IdConverter(IntegerConverter):
    """`<int:...>` in every route is a database id: ASCII digits only, 1 to 2^31-1. Anything
    else matches no route (404), instead of reaching PostgreSQL as an integer it cannot hold
    (DataError, a 500). Werkzeug's own converter takes any Unicode digit, and a value it
    refuses after matching can turn into a 405 from a route of another method; so the range
    is in the pattern itself."""

    regex = _up_to(MAX_ID)

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class Services:
    """The process-wide collaborators, built once per app (after gunicorn forks) from the settings:
    nothing here is a module-level client."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = Database(settings)
        clients = AwsClients(settings)
        self.queue = SqsQueue(clients.client("sqs", fast=settings.role == "web"), settings.sqs_queue_url)
        if settings.role == "web":
            # Requests hand their committed messages to a background sender and never wait for
            # SQS; the worker sends inline, before its answer to sqsd (docs/jobs.md, "Transactional
            # outbox", says why). Its thread starts with the first message, in that process.
            self.queue.sender = Sender(self.queue, self.db.sessions)
        self.storage = S3Storage(clients.client("s3"), settings.s3_bucket)
        self.metrics = JobMetrics(settings.metrics_namespace)
        # Only the worker sends email (email is a job): the web tier builds no SES client.
        self._mailer = Mailer.from_settings(settings, clients) if settings.role == "worker" else None
        self._before_close: list[Callable[[float], None]] = []

    def before_close(self, stop: Callable[[float], None]) -> None:
        """Have close() call `stop(timeout)` first: a background reader that uses the database
        ends before its pool is disposed of. One that ran on after would open a connection in
        the pool dispose() starts afresh, which nobody closes (a test's app, a worker's reload)."""
        self._before_close.append(stop)

    def close(self, timeout: float = DRAIN_SECONDS) -> None:
        """Stop the background readers, send what the sender still holds (for at most `timeout`
        seconds each), then close the database's pooled connections: a process that ends, or a
        test's app."""
        for stop in self._before_close:
            stop(timeout)
        if self.queue.sender is not None:
            self.queue.sender.close(timeout)
        self.db.dispose()

    @property
    def mailer(self) -> Mailer:
        if self._mailer is None:
            raise RuntimeError(f"the {self.settings.role} tier has no mailer: email is sent by jobs the worker runs")
        return self._mailer


def services() -> Services:
    from flask import current_app

    return current_app.extensions["aula"]


def session() -> Session:
    """The session of the current request (or sqsd POST), closed at teardown."""
    if "db_session" not in g:
        g.db_session = services().db.sessions()
    return g.db_session


def json_error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    return jsonify({"error": message, **extra}), status


def http_error_headers(exc: HTTPException) -> list[tuple[str, str]]:
    """The headers an HTTP error must keep whatever the body (e.g. `Allow` on a 405)."""
    return [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]


def json_http_error(exc: HTTPException) -> tuple[Response, int]:
    response, status = json_error(exc.code or 500, exc.description or exc.name)
    response.headers.extend(http_error_headers(exc))
    return response, status


def create_base_app(role: str, settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    if settings.role != role:
        raise RuntimeError(f"APP_ROLE is {settings.role!r} but the {role} app was asked for")
    configure_logging(role, settings.log_level)
    app = Flask(role)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.config.update(SECRET_KEY=settings.secret_key, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES)
    app.extensions["aula"] = Services(settings)

    @app.before_request
    def _start_request() -> None:
        # Honour the load balancer's or caller's id so one request can be followed across tiers.
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        start_context(request_id=g.request_id)

    @app.after_request
    def _tag_response(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    @app.teardown_request
    def _end_request(_exc: BaseException | None) -> None:
        db_session = g.pop("db_session", None)
        if db_session is not None:
            db_session.close()

    # The two answers never change: built once, not per request (/healthz is asked often).
    healthy = json.dumps({"status": "ok", "role": role, "database": "ok"}).encode()
    unhealthy = json.dumps({"status": "unavailable", "role": role, "database": "unreachable"}).encode()
    reachability = app.extensions["aula"].db.reachability

    @app.get("/healthz")
    def healthz() -> Response:
        # The last ping's answer, shared by the process (core.db.Reachability): cheap, and a
        # database that goes away still turns this into a 503 within a few seconds.
        reachable, _why = reachability.check()
        if reachable:
            return Response(healthy, 200, mimetype="application/json")
        return Response(unhealthy, 503, mimetype="application/json")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        return json_http_error(exc)

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> tuple[Response, int]:
        log.error("database unavailable: %s", exc.orig)
        return json_error(503, "the database is unavailable; try again shortly")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return json_error(500, "internal error")

    return app


__all__ = ["bind", "create_base_app", "json_error", "json_http_error", "services", "session"]
