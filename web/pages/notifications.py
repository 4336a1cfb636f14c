"""The notification inbox, for every role (students get activities; teachers get summaries).
JSON equivalent: web/api/notifications.py (both use web/common/notifications.py)."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from core.app import session
from web.common.notifications import inbox_page, mark_all_read, mark_read
from web.common.refusal import Refusal
from web.pages.blueprint import bp
from web.sessions import page_login_required, safe_next


def _back():
    """Back to the inbox page the form was on (same-site paths only), 303 so the browser GETs it."""
    return redirect(safe_next(request.form.get("next")) or url_for("pages.inbox"), code=303)


@bp.get("/notifications")
@page_login_required()
def inbox():
    page, unread_only = inbox_page(session(), g.user, request.args)
    return render_template("notifications.html", title="Notifications", page=page, unread_only=unread_only,
                           here=request.full_path.rstrip("?"))


@bp.post("/notifications/<int:notification_id>/read")
@page_login_required()
def inbox_mark_read(notification_id: int):
    db = session()
    if not mark_read(db, g.user, notification_id):
        raise Refusal(404, "That notification does not exist.")
    db.commit()
    return _back()


@bp.post("/notifications/read-all")
@page_login_required()
def inbox_mark_all_read():
    db = session()
    mark_all_read(db, g.user)
    db.commit()
    return _back()
