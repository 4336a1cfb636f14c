"""The worker tier: runs what sqsd POSTs (job messages and cron.yaml periodic tasks)."""
from __future__ import annotations

from flask import Flask
from flask.sessions import SessionInterface

from core.app import create_base_app
from core.settings import Settings
from worker import loopback, sqsd
from worker.connections import MessageConnections
from worker.registries import check_registries


class _NoSessions(SessionInterface):
    """sqsd sends no cookies and the worker keeps no login: do not build a signed-cookie session
    (a serializer, a cookie parse) for every message."""

    def open_session(self, app, request):
        return None  # Flask then uses its null session

    def save_session(self, app, session, response) -> None:
        return None


def create_app(settings: Settings | None = None) -> Flask:
    check_registries()  # every declared job type, workflow step and periodic task is implemented
    app = create_base_app("worker", settings)
    app.session_interface = _NoSessions()
    MessageConnections(app.extensions["aula"].db.engine).init_app(app)
    loopback.install(app)  # sqsd POSTs from this instance; nobody else may
    app.register_blueprint(sqsd.bp)
    return app
