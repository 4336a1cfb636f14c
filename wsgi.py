"""gunicorn entry point. APP_ROLE (an environment property per Elastic Beanstalk environment)
picks the app; both roles ship in the same bundle."""
from __future__ import annotations

from flask import Flask


def create_app() -> Flask:
    from core.settings import Settings

    # Parsed once, here, for the app of either role: every bad variable is named at once.
    settings = Settings.from_env()
    if settings.role == "worker":
        from worker import create_app as create_worker

        return create_worker(settings)
    from web import create_app as create_web

    return create_web(settings)
