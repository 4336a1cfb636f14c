"""Admin pages."""
from __future__ import annotations

from flask import render_template

from web.pages.blueprint import bp
from web.sessions import page_login_required


@bp.get("/admin")
@page_login_required("admin")
def admin_home():
    return render_template("placeholder.html", title="Institution")
