"""The worker tier: runs what sqsd POSTs (job messages and cron.yaml periodic tasks)."""
from __future__ import annotations

from flask import Flask

from core.app import create_base_app
from core.settings import Settings
from worker import sqsd


def create_app(settings: Settings | None = None) -> Flask:
    app = create_base_app("worker", settings)
    app.register_blueprint(sqsd.bp)
    return app
