"""Log in, log out, and the home page that sends each role to its own start page."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for

from core.app import session
from core.auth import authenticate
from web.pages.blueprint import bp
from web.sessions import home_for, log_in, log_out, safe_next, session_user


@bp.get("/")
def home():
    user = session_user()
    return redirect(home_for(user) if user else url_for("pages.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", email="", error=None, next=request.args.get("next", ""))
    email, password = request.form.get("email", ""), request.form.get("password", "")
    user = authenticate(session(), email, password) if email and password else None
    if user is None:
        return render_template("login.html", email=email, error="Wrong email or password.",
                               next=request.form.get("next", "")), 401
    log_in(user)
    return redirect(safe_next(request.form.get("next")) or home_for(user))


@bp.post("/logout")
def logout():
    log_out()
    return redirect(url_for("pages.login"))
