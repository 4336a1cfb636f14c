"""Pages: the caller's notification preferences (/preferences), and the unsubscribe link every
email carries (/unsubscribe/<token>, no login: core/unsubscribe.py). The link's GET only shows
what it would turn off, with a button; the POST changes it. Mail scanners and link previews
fetch GETs, and a GET that unsubscribed would turn people's email off without them. Mail clients'
one-click unsubscribe (RFC 8058) POSTs `List-Unsubscribe=One-Click` to the same URL."""
from __future__ import annotations

import sqlalchemy as sa
from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.auth import normalize_email
from core.models import User
from core.models.notifications import CHANNELS
from core.notification_kinds import KINDS
from core.unsubscribe import read_token
from web.common.preferences import preferences_json, set_channels, unsubscribe, unsubscribe_kinds
from web.pages.blueprint import bp
from web.sessions import csrf, page_login_required

CHANNEL_LABELS = {"email": "Email me at once", "digest": "In my daily digest", "off": "Only in Aula"}


@bp.route("/preferences", methods=["GET", "POST"])
@page_login_required()
def preferences():
    db, user = session(), g.user
    saved, error = False, None
    if request.method == "POST":
        choices = {kind: request.form.get(f"channel-{kind}", "") for kind in KINDS}
        if any(channel not in CHANNELS for channel in choices.values()):
            error = "Choose one of the options for every kind of notification."
        else:
            set_channels(db, user.id, choices)
            db.commit()
            return redirect(url_for("pages.preferences", saved=1))
    saved = request.args.get("saved") == "1"
    status = 400 if error else 200
    return render_template("preferences.html", title="Notification preferences", prefs=preferences_json(db, user),
                           labels=CHANNEL_LABELS, saved=saved, error=error), status


def _user_of(token: str) -> tuple[User | None, str | None]:
    asked = read_token(services().settings.secret_key, token)
    if asked is None:
        return None, None
    user = session().scalar(sa.select(User).where(User.email == normalize_email(asked.email)))
    return user, asked.kind


def _kind_labels(kinds: list[str]) -> list[str]:
    return [KINDS[k].label for k in kinds if k in KINDS]


@bp.get("/unsubscribe/<token>")
def unsubscribe_confirm(token: str):
    user, kind = _user_of(token)
    if user is None or kind is None:
        return render_template("unsubscribe.html", title="Unsubscribe", state="invalid"), 404
    kinds = unsubscribe_kinds(session(), user.id, kind)
    return render_template("unsubscribe.html", title="Unsubscribe", state="confirm", kind=kind,
                           labels=_kind_labels(kinds), token=token, email=user.email)


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # the signed token is the proof; a mail client's one-click POST carries no CSRF token
def unsubscribe_apply(token: str):
    user, kind = _user_of(token)
    if user is None or kind is None:
        return render_template("unsubscribe.html", title="Unsubscribe", state="invalid"), 404
    db = session()
    kinds = unsubscribe(db, user.id, kind)
    db.commit()
    return render_template("unsubscribe.html", title="Unsubscribed", state="done", kind=kind,
                           labels=_kind_labels(kinds), email=user.email)
