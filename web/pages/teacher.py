"""Teacher pages."""
from __future__ import annotations

from flask import render_template

from web.pages.blueprint import bp
from web.sessions import page_login_required


@bp.get("/teacher/classes")
@page_login_required("teacher")
def teacher_classes():
    return render_template("placeholder.html", title="My classes")


@bp.get("/jobs")
@page_login_required("teacher", "admin", "student")
def my_jobs():
    return render_template("placeholder.html", title="My jobs")
