"""Server-rendered pages (Jinja) for students, teachers and admins. One blueprint, "pages",
with a module per audience; every page has a JSON API equivalent under /api, and both use the
queries and actions in web/common/ (a page never imports an API module)."""
from __future__ import annotations

from flask import Flask, g

from core.app import session
from web.common.notifications import unread
from web.pages import (
    account,
    activity,
    admin,
    grades,
    invitations,
    jobs,
    notifications,
    ops_audit,
    ops_batches,
    ops_deadletters,
    ops_jobs,
    ops_overview,
    ops_periodic,
    ops_workflows,
    preferences,
    roster,
    student,
    submissions,
    teacher,
)
from web.pages.blueprint import bp

# Every page module, named once: importing one attaches its routes to the blueprint.
PAGE_MODULES = (account, activity, admin, grades, invitations, jobs, notifications, ops_audit, ops_batches,
                ops_deadletters, ops_jobs, ops_overview, ops_periodic, ops_workflows, preferences, roster, student,
                submissions, teacher)


def register(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _header() -> dict:
        user = g.get("user")
        if user is None or not hasattr(user, "role"):
            return {"me": None, "unread": 0}
        # A Count: shown as "1000+" beyond web.common.pagination.COUNT_CAP, false when none.
        return {"me": user, "unread": unread(session(), user)}
