"""Login throttling, per account and per client address, kept in the database (login_throttles)
so it holds across gunicorn workers and instances.

Each attempt is counted BEFORE the password is checked, in a transaction that locks the
counter rows, so parallel guesses cannot slip past the limit while hashes are being compared.
A right password then gives the attempt back: the account's count is cleared, the address's
count goes down by one, so a school behind one NAT address is never locked out by its own
successful logins. Past the limit every attempt answers 429 without checking the password, for
a lock that doubles each time it is hit again (reset after a day without failures). Unknown
emails are counted exactly like known ones: the answers never tell whether an account exists.
"""
from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.auth import authenticate, normalize_email
from core.db import insert_or_ignore, utcnow
from core.models import LoginThrottle, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    failures: int  # failed attempts allowed per window ...
    window: timedelta
    first_lock: timedelta  # ... then locked this long, doubling at each further lock
    max_lock: timedelta


LIMITS = {
    "account": Limit(5, timedelta(minutes=15), timedelta(minutes=5), timedelta(hours=24)),
    # Generous: a whole school may share one address.
    "address": Limit(50, timedelta(minutes=15), timedelta(minutes=5), timedelta(hours=24)),
}
FORGET_LOCKOUTS_AFTER = timedelta(hours=24)


class LoginThrottled(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = retry_after
        super().__init__(f"too many failed logins; try again in {retry_after} seconds")


def _key(scope: str, value: str) -> str:
    return hashlib.sha256(f"{scope}:{value}".encode()).hexdigest()


def _lock_length(limit: Limit, lockouts: int) -> timedelta:
    return min(limit.max_lock, limit.first_lock * (2 ** min(lockouts, 20)))


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def _count_attempt(db: Session, keys: dict[str, str], now: datetime) -> None:
    """Count one attempt against every key; raise LoginThrottled if any of them is locked or
    this attempt goes past its limit. Commits either way (a lock must stay recorded)."""
    for scope, key in keys.items():
        # Writing first takes SQLite's writer lock before anything is read (no stale read-then-write).
        insert_or_ignore(db, LoginThrottle, ["key"], key=key, scope=scope, failures=0, window_started_at=now,
                         lockouts=0, updated_at=now)
    rows = db.scalars(sa.select(LoginThrottle).where(LoginThrottle.key.in_(keys.values()))
                      .order_by(LoginThrottle.key).with_for_update()).all()
    wait = timedelta(0)
    for row in rows:
        limit = LIMITS[row.scope]
        if row.locked_until is not None and row.locked_until > now:
            wait = max(wait, row.locked_until - now)
            continue
        if now - row.updated_at > FORGET_LOCKOUTS_AFTER:
            row.lockouts = 0
        if now - row.window_started_at > limit.window:
            row.failures, row.window_started_at = 0, now
        row.failures += 1
        row.updated_at = now
        if row.failures > limit.failures:
            length = _lock_length(limit, row.lockouts)
            row.locked_until, row.lockouts, row.failures, row.window_started_at = now + length, row.lockouts + 1, 0, now
            wait = max(wait, length)
            log.warning("login locked for %d s: %s", _seconds(length), row.scope,
                        extra={"throttle_scope": row.scope, "lockouts": row.lockouts,
                               "lock_seconds": _seconds(length)})
    db.commit()
    if wait:
        raise LoginThrottled(_seconds(wait))


def _give_back(db: Session, keys: dict[str, str]) -> None:
    db.execute(sa.update(LoginThrottle).where(LoginThrottle.key == keys["account"])
               .values(failures=0, lockouts=0))
    db.execute(sa.update(LoginThrottle).where(LoginThrottle.key == keys["address"], LoginThrottle.failures > 0)
               .values(failures=LoginThrottle.failures - 1))


def throttled_login(db: Session, email: str, password: str, address: str | None) -> User | None:
    """The user for these credentials, or None; raises LoginThrottled past the limits. Commits."""
    keys = {"account": _key("account", normalize_email(email)), "address": _key("address", address or "unknown")}
    _count_attempt(db, keys, utcnow())
    user = authenticate(db, email, password)
    if user is not None:
        _give_back(db, keys)
        db.commit()
    return user
