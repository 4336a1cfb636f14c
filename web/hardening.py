"""What the web tier does to every request and response, whatever the route:

- refuse input PostgreSQL cannot take or Python cannot parse before any view sees it: a NUL
  character in a query string, a form field or anywhere in a JSON body (400 naming the field),
  and JSON nested too deeply for the parser (400, where it was a RecursionError and a 500);
- answer errors the way the caller reads them: the API (/api/...) and /healthz in JSON, the
  pages with an HTML page in the app's layout (web/templates/error.html), for unknown routes
  (404), wrong methods (405, with `Allow`), bodies over the limit (413) and failures (500), and
  for what views raise: bad input (core.parsing.InputError, e.g. a page number: 400 naming the
  field) and a refusal with its message (web.common.refusal: "not found", "not yours");
- send the browser protections with every response: a Content-Security-Policy that allows only
  the app's own scripts and styles (no inline script, no style="" attributes, no framing),
  X-Frame-Options, X-Content-Type-Options and Referrer-Policy.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, g, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from core.app import http_error_headers, json_error, json_http_error
from core.app import session as db_session
from core.jobs.sqsd_paths import SQSD_PREFIX
from core.parsing import NUL, InputError, find_nul
from web.common.refusal import Refusal

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_SECURITY_HEADER_ITEMS = tuple(SECURITY_HEADERS.items())
_SECURITY_HEADER_NAMES = frozenset(name.lower() for name in SECURITY_HEADERS)
PAGE_MESSAGES = {
    400: "That request was not understood.",
    403: "This page is not for your role.",
    404: "There is no such page.",
    405: "That page does not take this kind of request.",
    413: "That was too much to send at once.",
    500: "Something went wrong on our side. Please try again.",
    503: "Aula cannot reach its database right now. Please try again shortly.",
}


def wants_json() -> bool:
    """The API, the health check and the sqsd paths answer JSON; everything else is a page."""
    path = request.path
    return path.startswith(("/api/", SQSD_PREFIX + "/")) or path == "/healthz"


def _printable(name: str) -> str:
    return name.replace(NUL, "\\u0000")


def unsafe_input() -> tuple[str, str] | None:
    """(field, message) for the first input no view should see, else None."""
    environ = request.environ
    if not environ.get("QUERY_STRING") and not environ.get("CONTENT_TYPE"):
        # Nothing to parse (most requests, every poll): no query string, and without a
        # Content-Type werkzeug parses no form and the body is no JSON.
        return None
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if not isinstance(key, str):
                # A multipart part whose Content-Disposition names no field: werkzeug files it
                # under None, which no view asks for (it was a TypeError here, a 500).
                return "form", "every part of a multipart body must name its field"
            if NUL in key or NUL in value:
                return _printable(key), f"{_printable(key)} must not contain NUL characters"
    for key, upload in request.files.items(multi=True):
        if not isinstance(key, str):
            return "form", "every part of a multipart body must name its field"
        if upload.filename and NUL in upload.filename:
            return _printable(key), f"the file name of {_printable(key)} must not contain NUL characters"
    if request.is_json:
        try:
            body = request.get_json(silent=True)  # cached: the view reads the same parse
        except RecursionError:
            return "body", "the JSON body is nested too deeply"
        where = find_nul(body)
        if where is not None:
            return where or "body", f"{where or 'the body'} must not contain NUL characters"
    return None


def error_page(status: int, message: str | None = None) -> tuple[str, int]:
    """The HTML error page, in the layout. Rendering must not fail in turn (it shows the
    signed-in user's header, which needs the database), so it falls back to plain HTML."""
    message = message or PAGE_MESSAGES.get(status, "That did not work.")
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:  # an error page must always answer
        log.exception("could not render the error page")
        g.pop("user", None)
        try:
            return render_template("error.html", status=status, message=message), status
        except Exception:  # noqa: BLE001
            return f"<!doctype html><title>Error {status}</title><h1>{status}</h1><p>{message}</p>", status


def refuse(status: int, message: str, **extra: Any):
    """The answer to a refused request: JSON for the API (with `extra`), the error page for a page."""
    if wants_json():
        return json_error(status, message, **extra)
    return error_page(status, message)


def init_hardening(app: Flask) -> None:
    app.wsgi_app = _with_security_headers(app.wsgi_app)  # type: ignore[method-assign]

    @app.before_request
    def _refuse_unsafe_input():
        problem = unsafe_input()
        if problem is None:
            return None
        field, message = problem
        return refuse(400, message, field=field)

    @app.errorhandler(InputError)
    def _bad_input(exc: InputError):
        return refuse(400, exc.message, field=exc.field)

    @app.errorhandler(Refusal)
    def _refused(exc: Refusal):
        return refuse(exc.status, exc.message, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if wants_json():
            return json_http_error(exc)
        page, status = error_page(exc.code or 500)
        response = app.make_response((page, status))
        response.headers.extend(http_error_headers(exc))
        return response

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError):
        log.error("database unavailable: %s", exc.orig)
        _rollback()
        if wants_json():
            return json_error(503, "the database is unavailable; try again shortly")
        g.pop("user", None)  # the header would ask the database for the unread count
        return error_page(503)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        _rollback()
        if wants_json():
            return json_error(500, "internal error")
        return error_page(500)


def _with_security_headers(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """`wsgi_app` with the browser protections added to every response it starts, unless the
    response set its own value. Added to the header list handed to the server, rather than by
    an after_request hook, so no per-request hook runs for them, and every response has them:
    Flask's error responses too."""
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            if present.isdisjoint(_SECURITY_HEADER_NAMES):
                headers.extend(_SECURITY_HEADER_ITEMS)
            else:
                headers.extend(item for item in _SECURITY_HEADER_ITEMS if item[0].lower() not in present)
            return start_response(status, headers, exc_info)

        return wsgi_app(environ, start)

    return app


def _rollback() -> None:
    """A failed statement leaves the request's session unusable until rolled back (the error
    page's header reads from it)."""
    if "db_session" in g:
        try:
            db_session().rollback()
        except Exception:
            log.exception("rollback after an error failed")
