"""web.api.polling: a polled answer is conditional exactly as werkzeug's make_conditional made
it (304 for a matching If-None-Match, weak comparison, 412 with a failing If-Match), builds no
body for a 304, and carries ETag, Cache-Control and, until finished, Retry-After."""
from __future__ import annotations

import pytest
from flask import Response

from web.api.polling import polled, polled_as

ETAG = "0123456789abcdef0123456789abcdef"
CONDITIONS = [
    {},
    {"If-None-Match": f'"{ETAG}"'},
    {"If-None-Match": f'W/"{ETAG}"'},
    {"If-None-Match": f'"other", "{ETAG}"'},
    {"If-None-Match": "*"},
    {"If-None-Match": '"other"'},
    {"If-None-Match": ""},
    {"If-Modified-Since": "Fri, 01 Mar 2024 12:00:00 GMT"},
    {"If-None-Match": f'"{ETAG}"', "If-Match": f'"{ETAG}"'},
    {"If-None-Match": f'"{ETAG}"', "If-Match": '"other"'},
    {"If-Match": '"other"'},
    {"If-Match": f'"{ETAG}"'},
]


def _werkzeug_status(app, method: str, headers: dict[str, str]) -> int:
    with app.test_request_context("/api/thing", method=method, headers=headers):
        from flask import request

        response = Response(b"{}", mimetype="application/json")
        response.set_etag(ETAG)
        return response.make_conditional(request).status_code


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
@pytest.mark.parametrize("headers", CONDITIONS, ids=lambda h: ";".join(f"{k}={v}" for k, v in h.items()) or "none")
def test_the_status_is_the_one_werkzeug_would_give(web_app, method, headers):
    with web_app.test_request_context("/api/thing", method=method, headers=headers):
        status = polled_as(ETAG, False, lambda: {"a": 1}).status_code
    assert status == _werkzeug_status(web_app, method, headers)


def test_a_304_never_builds_the_body(web_app):
    def body():
        raise AssertionError("built")

    with web_app.test_request_context("/api/thing", headers={"If-None-Match": f'"{ETAG}"'}):
        response = polled_as(ETAG, False, body)
    assert response.status_code == 304 and response.get_data() == b""


@pytest.mark.parametrize("finished", [False, True])
def test_the_polling_headers(web_app, finished):
    for headers in ({}, {"If-None-Match": f'"{ETAG}"'}):
        with web_app.test_request_context("/api/thing", headers=headers):
            response = polled_as(ETAG, finished, lambda: {"a": 1})
        assert response.headers["ETag"] == f'"{ETAG}"'
        assert response.headers["Cache-Control"] == "private, no-cache"
        assert response.headers.get("Retry-After") == (None if finished else "2")


def test_a_body_hashed_etag_follows_the_body(web_app):
    with web_app.test_request_context("/api/thing"):
        first = polled({"state": "running"}, False)
        same = polled({"state": "running"}, False)
        other = polled({"state": "succeeded"}, True)
    assert first.get_json() == {"state": "running"} and first.mimetype == "application/json"
    assert first.headers["ETag"] == same.headers["ETag"] != other.headers["ETag"]
