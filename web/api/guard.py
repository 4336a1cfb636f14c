"""Bearer-token authentication for the API."""
from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import g, request

from core.app import json_error, session
from core.auth import user_for_token
from core.logs import bind
from core.models import User


def current_user() -> User:
    return g.user


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = user_for_token(session(), token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            response, status = json_error(401, "a valid bearer token is required; log in at POST /api/login")
            response.headers["WWW-Authenticate"] = 'Bearer realm="aula"'
            return response, status
        g.user = user
        bind(user_id=user.id)
        return view(*args, **kwargs)

    return wrapper


def json_body() -> dict[str, Any] | None:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None
