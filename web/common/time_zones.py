"""Storing a user's time zone (users.time_zone), for the account page and PUT /api/me/time-zone."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import User


def set_time_zone(db: Session, user: User, zone: str, *, only_if_unset: bool = False) -> bool:
    """Store `zone` (already validated, web.common.dates.valid_zone); whether it changed. With
    `only_if_unset` (the browser's guess) a zone already stored stays: decided by the UPDATE, so
    a guess racing the user's own choice on the account page cannot overwrite it."""
    update = sa.update(User).where(User.id == user.id, User.time_zone.is_distinct_from(zone))
    if only_if_unset:
        update = update.where(User.time_zone.is_(None))
    changed = db.execute(update.values(time_zone=zone).execution_options(synchronize_session=False)).rowcount
    return bool(changed)
