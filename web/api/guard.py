"""Bearer-token authentication for the API."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from core.app import json_error, session
from core.auth import login_for_token
from core.logs import bind
from core.models import User
from web.common.submit import QuotaExceeded
from web.sessions import csrf, session_login_id, session_user


def current_user() -> User:
    return g.user


def current_login_id() -> int:
    """The id of the login (bearer token or browser session) this request came with."""
    return g.login_id


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _authenticate() -> User | None:
    """A bearer token, or the pages' session cookie. A cookie is sent by the browser on its
    own, so a state-changing call authenticated by it must also carry the CSRF token."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        found = login_for_token(session(), token.strip())
        if found is None:
            return None
        user, g.login_id = found
        return user
    user = session_user()
    if user is not None:
        g.login_id = session_login_id()
        if request.method not in SAFE_METHODS:
            csrf.protect()
    return user


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = _authenticate()
        if user is None:
            response, status = json_error(401, "a valid bearer token is required; log in at POST /api/login")
            response.headers["WWW-Authenticate"] = 'Bearer realm="aula"'
            return response, status
        g.user = user
        bind(user_id=user.id)
        return view(*args, **kwargs)

    return wrapper


def quota_response(exc: QuotaExceeded):
    """The 429 of every endpoint that creates work, beyond the user's cap on requests in flight."""
    response, status = json_error(429, str(exc), limit=exc.limit)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response, status


def json_body() -> dict[str, Any] | None:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None
