"""Pages: invitations (issue 13, item 8). /invitations/<token>, the link a roster import's new
account is emailed: set a password (the app's rules, web/common/invitations.py), which uses the
link and logs in. A used, expired or unknown link shows a page saying so (and what to do); the
token is only ever compared by its SHA-256 (core/invitations.py)."""
from __future__ import annotations

from flask import redirect, render_template, request

from core.app import session
from core.auth import hash_password
from core.invitations import accept, find
from web.common.institution_seed import MIN_PASSWORD
from web.common.invitations import MAX_PASSWORD, password_problem
from web.pages.blueprint import bp
from web.sessions import home_for, log_in

# The link is a credential: never cached, never sent on as a Referer.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
STATUS = {"unknown": 404, "used": 410, "expired": 410}


def _closed(state: str):
    return render_template("invitations/closed.html", title="Invitation", state=state), STATUS[state], PRIVATE


def _form(token: str, found, error: str | None = None, status: int = 200):
    return render_template("invitations/accept.html", title="Set your password", token=token, user=found.user,
                           invitation=found.invitation, error=error, min_password=MIN_PASSWORD,
                           max_password=MAX_PASSWORD), status, PRIVATE


@bp.get("/invitations/<token>")
def invitation_page(token: str):
    found = find(session(), token)
    if found.state != "open":
        return _closed(found.state)
    return _form(token, found)


@bp.post("/invitations/<token>")
def accept_invitation(token: str):
    db = session()
    found = find(db, token)
    if found.state != "open":
        return _closed(found.state)
    password, confirm = request.form.get("password", ""), request.form.get("confirm", "")
    problem = password_problem(password, confirm, found.user.email)
    if problem:
        return _form(token, found, problem, 422)
    if not accept(db, found, hash_password(password)):
        db.rollback()
        return _closed("used")
    log_in(found.user)
    db.commit()
    return redirect(home_for(found.user), code=303)
