"""The worker tier: runs what sqsd POSTs (job messages and cron.yaml periodic tasks)."""
from __future__ import annotations

from flask import Flask

from core.app import create_base_app
from core.settings import Settings
from worker import loopback, sqsd


def create_app(settings: Settings | None = None) -> Flask:
    app = create_base_app("worker", settings)
    loopback.install(app)  # sqsd POSTs from this instance; nobody else may
    app.register_blueprint(sqsd.bp)
    return app
