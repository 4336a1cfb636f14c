"""The web tier: answers fast, hands slow work to the queue."""
from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from core.app import create_base_app, json_error
from core.jobs.sqsd_paths import SQSD_PREFIX
from core.settings import Settings
from web import pages
from web.api import (
    activities,
    admin,
    auth,
    classes,
    grades,
    jobs,
    me,
    my_jobs,
    notifications,
    openapi,
    ops,
    preferences,
    reports,
    roster,
    submissions,
    workflows,
)
from web.common.reads import OneStatementReads
from web.hardening import init_hardening
from web.sessions import csrf, init_sessions

API_BLUEPRINTS = (activities, admin, auth, classes, grades, jobs, me, my_jobs, notifications, openapi, ops, preferences,
                  reports, roster, submissions, workflows)


def create_app(settings: Settings | None = None) -> Flask:
    app = create_base_app("web", settings)
    init_hardening(app)  # input checks, security headers, HTML error pages for the pages
    trusted = app.extensions["aula"].settings.trusted_proxies
    if trusted:
        # The client's address (login throttling, logs) is the one the load balancer saw, not
        # whatever a client wrote into X-Forwarded-For: take it that many hops from the right.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted)  # type: ignore[method-assign]
    init_sessions(app)
    services = app.extensions["aula"]
    OneStatementReads.beside(services.settings, services.db.engine).init_app(app)
    for module in API_BLUEPRINTS:
        # The API checks CSRF itself, only for calls authenticated by the session cookie
        # (web/api/guard.py); bearer-token calls cannot be forged by another site.
        csrf.exempt(module.bp)
        app.register_blueprint(module.bp, url_prefix="/api")
    pages.register(app)
    _ask_once_if_async(app)

    @app.route(SQSD_PREFIX + "/<path:_rest>", methods=["POST"])
    @csrf.exempt  # not a form: answer every such POST with the same clear refusal
    def refuse_sqsd(_rest: str):
        # A web instance must never run jobs, even if a message is posted to it by mistake.
        return json_error(403, "this is a web-tier instance; jobs run on the worker tier")

    return app


def _ask_once_if_async(app: Flask) -> None:
    """Flask runs every hook and view of every request through app.ensure_sync, which inspects
    the function each time to see whether it is a coroutine function (about ten calls per
    hook); the answer for a function never changes, so it is worked out once."""
    ensure_sync = app.ensure_sync
    known: dict[Any, Any] = {}

    def ensure_sync_once(func: Any) -> Any:
        try:
            return known[func]
        except KeyError:
            known[func] = wrapped = ensure_sync(func)
            return wrapped
        except TypeError:  # an unhashable callable
            return ensure_sync(func)

    app.ensure_sync = ensure_sync_once  # type: ignore[method-assign]
