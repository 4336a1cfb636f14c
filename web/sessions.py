"""Browser sessions for the pages: a signed session cookie (HttpOnly, SameSite=Lax, Secure on
AWS) holding a login token whose row (api_tokens, kind "browser") is checked on every request,
so logging out or revoking it ends the session even where the cookie was copied; and CSRF
protection on every form (Flask-WTF's CSRFProtect: the well-kept implementation of the
synchronizer-token pattern Flask itself recommends)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlparse

from flask import Flask, Request, Response, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_wtf.csrf import CSRFError, CSRFProtect
from itsdangerous import URLSafeTimedSerializer

from core.app import json_error, services
from core.app import session as db_session
from core.auth import issue_token, revoke_token
from core.logs import bind
from core.models import User
from web.common.logins import user_for_token

csrf = CSRFProtect()
# An operator's work is the operations console; an admin keeps the institution page (the console is one link away).
HOME = {"teacher": "pages.teacher_classes", "student": "pages.student_classes", "admin": "pages.admin_home",
        "operator": "pages.ops_overview"}


class SignedCookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the signing serializer built once per set of keys
    rather than on every request (Flask builds one to open the session and one to save it)."""

    def __init__(self) -> None:
        self._serializer: tuple[tuple[Any, ...], URLSafeTimedSerializer | None] | None = None

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ and app.secret_key:
            return self.session_class()  # no cookie sent (API clients): an empty session, nothing to verify
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not (session or session.accessed or session.modified):
            return  # nothing to send or to vary on (Flask would work out the cookie's settings first)
        super().save_session(app, session, response)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]


def init_sessions(app: Flask) -> None:
    settings = services_settings(app)
    app.session_interface = SignedCookieSessions()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.token_ttl_seconds),
        WTF_CSRF_TIME_LIMIT=None,  # valid for the session's life; the session itself expires
    )
    csrf.init_app(app)

    @app.errorhandler(CSRFError)
    def _csrf_failed(exc: CSRFError):
        if request.path.startswith("/api/"):
            return json_error(400, f"CSRF check failed: {exc.description}")
        return render_template("error.html", status=400,
                               message="This form expired or did not come from Aula. Reload the page and try again."), 400


def services_settings(app: Flask):
    return app.extensions["aula"].settings


def session_token() -> str | None:
    """The login token the session cookie holds, if any (whether it is live is the database's say)."""
    token = session.get("login")
    return token if isinstance(token, str) and token else None


def session_user() -> User | None:
    """The user of the session cookie's live login, if any (cached per request)."""
    if "session_user" not in g:
        token = session_token()
        found = user_for_token(db_session(), token) if token else None
        g.session_user, g.session_login_id = found if found else (None, None)
    return g.session_user


def session_login_id() -> int | None:
    session_user()
    return g.session_login_id


def log_in(user: User) -> None:
    """Start a browser login (the caller commits the new row)."""
    session.clear()  # a new session for a new login (no session fixation)
    session.permanent = True
    session["login"] = issue_token(db_session(), user, services_settings(current_app).token_ttl_seconds,
                                   kind="browser", user_agent=request.headers.get("User-Agent"))


def log_out() -> None:
    """End the cookie's login on the server too (the caller commits)."""
    token = session.get("login")
    if isinstance(token, str) and token:
        revoke_token(db_session(), token)
    session.clear()


def safe_next(target: str | None) -> str | None:
    """Only same-site paths: a crafted ?next= must not send people elsewhere after login."""
    if not target:
        return None
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc and target.startswith("/") else None


def page_login_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = session_user()
            if user is None:
                return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
            if roles and user.role not in roles:
                return render_template("error.html", status=403,
                                       message="This page is not for your role."), 403
            g.user = user
            bind(user_id=user.id)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def home_for(user: User) -> str:
    return url_for(HOME[user.role])


__all__ = ["csrf", "home_for", "init_sessions", "log_in", "log_out", "page_login_required", "safe_next",
           "services", "session_login_id", "session_token", "session_user"]
