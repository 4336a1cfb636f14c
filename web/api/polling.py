"""Responses for things clients poll (jobs, workflows, batches): a strong ETag so an unchanged
resource costs a 304, and Retry-After as the polling interval until it is finished."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from werkzeug.http import is_resource_modified, parse_etags

from core.app import services

CACHE_CONTROL = "private, no-cache"


def polled(body: dict[str, Any], finished: bool) -> Response:
    """The answer for a polled resource whose ETag is the hash of its body."""
    etag = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    return polled_as(etag, finished, lambda: body)


def polled_as(etag: str, finished: bool, body: Callable[[], dict[str, Any]]) -> Response:
    """The answer for a polled resource whose ETag the caller worked out without the body: a
    304 (If-None-Match) never builds it. The conditional rules are werkzeug's, as with
    Response.make_conditional: a weak comparison, and 412 when If-Match is sent too."""
    quoted = f'"{etag}"'
    headers = [("ETag", quoted), ("Cache-Control", CACHE_CONTROL)]
    if not finished:
        headers.append(("Retry-After", str(services().settings.poll_interval_seconds)))
    environ = request.environ
    status = _unmodified_status(environ, quoted)
    if status is not None:
        return current_app.response_class(status=status, headers=headers)
    response = current_app.json.response(body())
    response.headers.extend(headers)
    return response


def _unmodified_status(environ: dict[str, Any], quoted_etag: str) -> int | None:
    """304 (or 412) where Response.make_conditional would answer it, else None; the two
    commonest cases without parsing (there is no Last-Modified, so only the ETag decides)."""
    if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
        return None
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if "HTTP_IF_MATCH" not in environ:
        if if_none_match is None:
            return None  # no validator: the first poll
        if if_none_match == quoted_etag:
            return 304  # what a polling client sends: the ETag it was given, as it was given
    if is_resource_modified(environ, quoted_etag):
        return None
    return 412 if parse_etags(environ.get("HTTP_IF_MATCH")) else 304
