"""Log in, log out, and the home page that sends each role to its own start page."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for

from core.app import session
from web.login_throttle import LoginThrottled, throttled_login
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
    next_path = request.form.get("next", "")
    if not (email and password):
        return render_template("login.html", email=email, error="Enter your email and password.", next=next_path), 400
    db = session()
    try:
        user = throttled_login(db, email, password, request.remote_addr)
    except LoginThrottled as exc:
        minutes = max(1, round(exc.retry_after / 60))
        page = render_template("login.html", email=email, next=next_path,
                               error=f"Too many failed logins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.")
        return page, 429, {"Retry-After": str(exc.retry_after)}
    if user is None:
        return render_template("login.html", email=email, error="Wrong email or password.", next=next_path), 401
    log_in(user)
    db.commit()
    return redirect(safe_next(next_path) or home_for(user))


@bp.post("/logout")
def logout():
    log_out()
    session().commit()
    return redirect(url_for("pages.login"))
