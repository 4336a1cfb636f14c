"""Fixed-window request limits per user for endpoints that cost something without creating a
job (so the cap on requests in flight, web.common.submit, does not bound them): signing an
upload form. Counted in the database like the login throttle (web/login_throttle.py), so the
limit holds across gunicorn workers and instances, in the same table: login_throttles is a
keyed window counter (the key a SHA-256 of scope and user, `failures` the window's count), and
the retention task already removes rows idle for a day (worker/retention.py).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import insert_or_ignore, utcnow
from core.models import LoginThrottle


@dataclass(frozen=True)
class RateLimit:
    scope: str  # at most 16 characters (login_throttles.scope)
    requests: int  # allowed per window
    window: timedelta


# A submission has at most 10 files; a student who retries each a few times stays far below.
UPLOAD_FORMS = RateLimit("upload_form", 60, timedelta(minutes=10))


class RateLimited(Exception):
    def __init__(self, limit: RateLimit, retry_after: int):
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(f"too many requests: at most {limit.requests} in {int(limit.window.total_seconds() // 60)} "
                         f"minutes; try again in {retry_after} seconds")


def _key(limit: RateLimit, user_id: int) -> str:
    return hashlib.sha256(f"rate:{limit.scope}:{user_id}".encode()).hexdigest()


def count_request(db: Session, limit: RateLimit, user_id: int, now: datetime | None = None) -> None:
    """Count one request of `user_id` against `limit`, or raise RateLimited when the window is
    full (a refused request is not counted: the window does not grow by retrying). Commits:
    its own short transaction, before the request's work, with the row locked."""
    now = now or utcnow()
    key = _key(limit, user_id)
    insert_or_ignore(db, LoginThrottle, ["key"], key=key, scope=limit.scope, failures=0, window_started_at=now,
                     lockouts=0, updated_at=now)
    row = db.scalars(sa.select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()).one()
    if now - row.window_started_at >= limit.window:
        row.failures, row.window_started_at = 0, now
    if row.failures >= limit.requests:
        wait = row.window_started_at + limit.window - now
        db.commit()
        raise RateLimited(limit, max(1, math.ceil(wait.total_seconds())))
    row.failures += 1
    row.updated_at = now
    db.commit()
