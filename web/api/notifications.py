"""The notification inbox as JSON: paginated and filtered in SQL, only the caller's own
(the queries and actions are web/common/notifications.py, shared with the inbox page)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from core.app import json_error, services, session
from core.models import Notification
from web.api.guard import current_user, login_required
from web.common.notifications import inbox_page, mark_all_read, mark_read, unread
from web.common.serializers import notification_json

bp = Blueprint("notifications", __name__)


@bp.get("/notifications")
@login_required
def list_notifications():
    user = current_user()
    page, _ = inbox_page(session(), user, request.args)
    return jsonify({"items": [notification_json(n, _base_url()) for n in page.items], **page.meta(), **_unread(user)})


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def read_notification(notification_id: int):
    db, user = session(), current_user()
    if not mark_read(db, user, notification_id):
        return json_error(404, f"notification {notification_id} not found")
    db.commit()
    # One SELECT, and the row as the UPDATE left it even if the session held it already.
    notification = db.get(Notification, notification_id, populate_existing=True)
    return jsonify({"notification": notification_json(notification, _base_url()), **_unread(user)})


@bp.post("/notifications/read-all")
@login_required
def read_all_notifications():
    db, user = session(), current_user()
    marked = mark_all_read(db, user)
    db.commit()
    return jsonify({"marked": marked, **_unread(user)})


def _unread(user) -> dict:
    # Counted up to COUNT_CAP: `unread_exact` is False when there are more.
    count = unread(session(), user)
    return {"unread": count.value, "unread_exact": count.exact}


def _base_url() -> str:
    return services().settings.public_base_url
