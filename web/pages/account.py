"""Log in, log out, the home page that sends each role to its own start page, and the account
page (the time zone every page shows times in, with the pages' `localtime` filter)."""
from __future__ import annotations

from datetime import datetime

from flask import g, redirect, render_template, request, url_for

from core.app import session
from core.db import utcnow
from core.parsing import InputError
from web.common.dates import ZONE_MAX, input_value, iso, local, utc, valid_zone, zone_label, zone_names
from web.common.time_zones import set_time_zone
from web.login_throttle import LoginThrottled, throttled_login
from web.pages.blueprint import bp
from web.sessions import home_for, log_in, log_out, page_login_required, safe_next, session_user


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


# --- Times in the viewer's zone, and the account page that sets it ---------------------------

def _viewer_zone() -> str | None:
    user = g.get("user")
    return getattr(user, "time_zone", None)


def _moment(value: datetime | str | None) -> datetime | None:
    """A time as pages get it: a datetime, or the RFC 3339 text of an API-shaped body."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else value or None


@bp.app_template_filter("localtime")
def localtime_filter(value: datetime | str | None) -> str:
    """Every time a page shows: in the viewer's zone, the zone named (UTC when none is stored).
    Use it inside <time datetime="{{ value|isotime }}">."""
    return local(_moment(value), _viewer_zone())


@bp.app_template_filter("isotime")
def isotime_filter(value: datetime | str | None) -> str:
    return iso(_moment(value)) or ""


@bp.app_template_filter("utctime")
def utctime_filter(value: datetime | str | None, precision: str = "seconds", empty: str = "") -> str:
    """The console's times (UTC, as its logs and queues are): "2026-12-01 23:59:07"."""
    return utc(_moment(value), precision) or empty


@bp.app_template_global("viewer_zone")
def viewer_zone() -> str:
    return zone_label(_viewer_zone())


@bp.app_template_global("local_input")
def local_input(value: datetime | None) -> str:
    """A value for <input type="datetime-local">, in the viewer's zone."""
    return input_value(value, _viewer_zone())


def _account_page(status: int = 200, error: str | None = None, saved: bool = False, chosen: str | None = None):
    user = g.user
    return render_template("account.html", title="My account", zones=sorted(zone_names()),
                           chosen=chosen if chosen is not None else (user.time_zone or ""), error=error,
                           saved=saved, now=utcnow()), status


@bp.get("/account")
@page_login_required()
def account():
    return _account_page(saved=request.args.get("saved") == "1")


@bp.post("/account/time-zone")
@page_login_required()
def account_time_zone():
    """The account page's form. `guess=1` (a guess, not a choice) never replaces a stored zone."""
    raw = request.form.get("time_zone", "")
    try:
        zone = valid_zone(raw)
    except InputError as exc:
        return _account_page(400, exc.message, chosen=raw[:ZONE_MAX])
    db = session()
    set_time_zone(db, g.user, zone, only_if_unset=request.form.get("guess") == "1")
    db.commit()
    return redirect(url_for("pages.account", saved=1), code=303)
