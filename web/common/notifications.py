"""The notification inbox, for the API (web/api/notifications.py) and the pages: paginated and
filtered in SQL, only the user's own, by position (`next`/`previous` cursors) or by page number;
counts stop at COUNT_CAP, so an inbox of 100,000 costs what one of 100 does. Marking read
changes the session; the caller commits."""
from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.models import Notification, User
from core.models.notifications import UNREAD
from web.common.access import own_notifications
from web.common.lists import OWN_NOTIFICATIONS
from web.common.pagination import Count, Page, PageParamError, PageRequest, capped_count, paginate

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
    statement = own_notifications(user, unread_only=unread_only)
    return paginate(db, statement, page_request, keyset=OWN_NOTIFICATIONS), unread_only


def unread(db: Session, user: User) -> Count:
    """The user's unread notifications (the header's badge, the API's `unread`), counted up to
    COUNT_CAP on the index of only the unread ones."""
    return capped_count(db, sa.select(Notification.id).where(Notification.user_id == user.id, sa.text(UNREAD)))


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
