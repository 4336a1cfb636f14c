"""The worker tier: runs what sqsd POSTs (job messages and cron.yaml periodic tasks)."""
from __future__ import annotations

from flask import Flask

from core.app import create_base_app
from core.settings import Settings
from worker import loopback, sqsd
from worker.registries import check_registries


def create_app(settings: Settings | None = None) -> Flask:
    check_registries()  # every declared job type, workflow step and periodic task is implemented
    app = create_base_app("worker", settings)
    loopback.install(app)  # sqsd POSTs from this instance; nobody else may
    app.register_blueprint(sqsd.bp)
    return app
