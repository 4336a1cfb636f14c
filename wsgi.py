"""gunicorn entry point. APP_ROLE (an environment property per Elastic Beanstalk environment)
picks the app; both roles ship in the same bundle."""
from __future__ import annotations

import os


def create_app():
    role = os.environ.get("APP_ROLE", "")
    if role == "worker":
        from worker import create_app as create_worker

        return create_worker()
    # web.create_app validates APP_ROLE (and everything else) and names what is wrong.
    from web import create_app as create_web

    return create_web()
