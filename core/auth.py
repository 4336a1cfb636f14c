"""Passwords and logins (bearer tokens and browser sessions, one table, revocable)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.db import utcnow
from core.models import ApiToken, User

# Logins a user may hold at once; a new one beyond it ends the oldest, so logging in in a loop
# cannot grow the table (or GET /api/tokens) without bound.
MAX_LOGINS_PER_USER = 50
# Checked against when the email is unknown, so a wrong email and a wrong password take the
# same time and the login endpoint does not reveal which accounts exist.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(sa.select(User).where(User.email == normalize_email(email)))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def token_digest(token: str) -> str:
    """What a login's row keeps of its token, and is found by: the token's SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def live_login(digest: Any, now: Any) -> sa.ColumnElement[bool]:
    """The one rule a login's row must meet to authenticate a request: its token's digest, not
    yet expired (a revoked login has no row). Values or bind parameters, so the statements built
    once that authenticate (web.common.logins.USER_BY_LOGIN for every API call and page,
    web.common.access.OWN_JOB_BY_LOGIN for a job's poll) apply the same rule."""
    return sa.and_(ApiToken.token_hash == digest, ApiToken.expires_at > now)


def issue_token(session: Session, user: User, ttl_seconds: int, kind: str = "bearer",
                user_agent: str | None = None) -> str:
    token = secrets.token_urlsafe(32)
    keep = sa.select(ApiToken.id).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    session.execute(sa.delete(ApiToken).where(ApiToken.user_id == user.id,
                                              ApiToken.id.not_in(keep.limit(MAX_LOGINS_PER_USER - 1).scalar_subquery()))
                    .execution_options(synchronize_session=False))
    session.add(ApiToken(user_id=user.id, token_hash=token_digest(token), kind=kind,
                         user_agent=(user_agent or None) and user_agent[:200],
                         expires_at=utcnow() + timedelta(seconds=ttl_seconds)))
    return token


def revoke(session: Session, user_id: int, token_id: int) -> bool:
    """End one of the user's logins; False if it is not theirs or is gone already."""
    return session.execute(
        sa.delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    ).rowcount == 1


def revoke_token(session: Session, token: str) -> None:
    session.execute(sa.delete(ApiToken).where(ApiToken.token_hash == token_digest(token)))


def live_logins(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.expires_at > utcnow())
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ))
