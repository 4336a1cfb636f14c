"""The notification inbox, for every role (students get activities; teachers get summaries)."""
from __future__ import annotations

from flask import render_template

from web.pages.blueprint import bp
from web.sessions import page_login_required


@bp.get("/notifications")
@page_login_required()
def inbox():
    return render_template("placeholder.html", title="Notifications")
