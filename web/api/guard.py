"""Bearer-token authentication for the API."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request

from core.app import json_error, session
from core.logs import bind
from core.models import User
from web.common.logins import user_for_token
from web.common.submit import QuotaExceeded
from web.sessions import csrf, session_login_id, session_token, session_user


def current_user() -> User:
    return g.user


def current_login_id() -> int:
    """The id of the login (bearer token or browser session) this request came with."""
    return g.login_id


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case)."""
    scheme, _, token = request.environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    return token if token and scheme.lower() == "bearer" else None


def presented_token() -> str | None:
    """The login token a safe (read-only) call comes with: a bearer token, else the pages'
    session cookie's. A bearer token that is not live is a 401, never a fall-back to the cookie.
    Only for GET-like calls: a state-changing call authenticated by the cookie must carry the
    CSRF token as well (`login_required` checks it)."""
    return bearer_token() or session_token()


def _authenticate() -> User | None:
    """A bearer token, or the pages' session cookie. A cookie is sent by the browser on its
    own, so a state-changing call authenticated by it must also carry the CSRF token."""
    token = bearer_token()
    if token is not None:
        found = user_for_token(session(), token)
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


def unauthenticated():
    """The 401 of a call without a live login."""
    response, status = json_error(401, "a valid bearer token is required; log in at POST /api/login")
    response.headers["WWW-Authenticate"] = 'Bearer realm="aula"'
    return response, status


def signed_in(user_id: int, login_id: int) -> None:
    """Record who the request is from: its login (current_login_id) and the log lines' user_id."""
    g.login_id = login_id
    bind(user_id=user_id)


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = _authenticate()
        if user is None:
            return unauthenticated()
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
