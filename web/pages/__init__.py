"""Server-rendered pages (Jinja) for students, teachers and admins. One blueprint, "pages",
with a module per audience; every page has a JSON API equivalent under /api."""
from __future__ import annotations

from flask import Flask, g

from core.access import unread_count
from core.app import session
from web.pages.blueprint import bp


def register(app: Flask) -> None:
    # Importing the modules attaches their routes to the blueprint.
    from web.pages import account, admin, notifications, student, teacher  # noqa: F401

    app.register_blueprint(bp)

    @app.context_processor
    def _header() -> dict:
        user = g.get("user")
        if user is None or not hasattr(user, "role"):
            return {"me": None, "unread": 0}
        return {"me": user, "unread": unread_count(session(), user)}
