"""The notification inbox as JSON: paginated and filtered in SQL, only the caller's own."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, request
from sqlalchemy.orm import Session

from core.access import own_notifications, unread_count
from core.app import json_error, session
from core.db import utcnow
from core.models import Notification, User
from core.pagination import Page, PageParamError, PageRequest, paginate
from web.api.guard import current_user, login_required

bp = Blueprint("notifications", __name__)

_TRUE, _FALSE = ("1", "true"), ("0", "false")


def unread_filter(args: Mapping[str, str]) -> bool:
    """`?unread=1` shows only unread notifications; anything but a yes/no value is a 400."""
    raw = args.get("unread", "0")  # exactly the document's values: "TRUE" or " 1" are not one of them
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise PageParamError("unread", "unread must be 1 (only unread) or 0 (all)")


def inbox_page(db: Session, user: User, args: Mapping[str, str]) -> tuple[Page[Notification], bool]:
    """One page of the user's notifications (raises PageParamError for bad page/size/unread)."""
    unread_only = unread_filter(args)
    page_request = PageRequest.from_args(args)
    return paginate(db, own_notifications(user, unread_only=unread_only), page_request), unread_only


def mark_read(db: Session, user: User, notification_id: int) -> bool:
    """Mark one of the user's own notifications read (already read stays as it was). False when
    it is not theirs or does not exist; nothing changes then. The caller commits."""
    updated = db.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated:
        return True
    return db.scalar(sa.select(Notification.id).where(Notification.id == notification_id,
                                                       Notification.user_id == user.id)) is not None


def mark_all_read(db: Session, user: User) -> int:
    """One UPDATE for every unread notification of the user; returns how many. The caller commits."""
    return db.execute(
        sa.update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def notification_json(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "activity_id": n.activity_id,
            "created_at": _iso(n.created_at), "read_at": _iso(n.read_at)}


@bp.get("/notifications")
@login_required
def list_notifications():
    user = current_user()
    try:
        page, _ = inbox_page(session(), user, request.args)
    except PageParamError as exc:
        return json_error(400, str(exc), field=exc.field)
    return jsonify({"items": [notification_json(n) for n in page.items], **page.meta(),
                    "unread": unread_count(session(), user)})


@bp.post("/notifications/<int:notification_id>/read")
@login_required
def read_notification(notification_id: int):
    db, user = session(), current_user()
    if not mark_read(db, user, notification_id):
        return json_error(404, f"notification {notification_id} not found")
    db.commit()
    notification = db.get(Notification, notification_id)
    db.refresh(notification)
    return jsonify({"notification": notification_json(notification), "unread": unread_count(db, user)})


@bp.post("/notifications/read-all")
@login_required
def read_all_notifications():
    db, user = session(), current_user()
    marked = mark_all_read(db, user)
    db.commit()
    return jsonify({"marked": marked, "unread": unread_count(db, user)})
