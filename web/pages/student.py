"""Student pages."""
from __future__ import annotations

from flask import render_template

from web.pages.blueprint import bp
from web.sessions import page_login_required


@bp.get("/student/classes")
@page_login_required("student")
def student_classes():
    return render_template("placeholder.html", title="My classes")
