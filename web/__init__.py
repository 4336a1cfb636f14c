"""The web tier: answers fast, hands slow work to the queue."""
from __future__ import annotations

from flask import Flask

from core.app import create_base_app, json_error
from core.jobs.sqsd_paths import SQSD_PREFIX
from core.settings import Settings
from web.api import activities, admin, auth, jobs, reports, workflows


def create_app(settings: Settings | None = None) -> Flask:
    app = create_base_app("web", settings)
    for module in (activities, admin, auth, jobs, reports, workflows):
        app.register_blueprint(module.bp, url_prefix="/api")

    @app.route(SQSD_PREFIX + "/<path:_rest>", methods=["POST"])
    def refuse_sqsd(_rest: str):
        # A web instance must never run jobs, even if a message is posted to it by mistake.
        return json_error(403, "this is a web-tier instance; jobs run on the worker tier")

    return app
