"""Invitations: a single-use, expiring link for a new account to set its own password.

The table keeps only the token's SHA-256 (as for logins), so a database dump holds no usable
link. The token itself is an HMAC of the invitation (its user and the moment it was made) under the app's secret
key: the import that creates the row never has to carry the token anywhere (not in a job's
payload, which is stored), and the email job that sends it works it out again, so a retried
send mails the same link rather than one the table does not know. Without the secret key nobody
can work one out; a changed key only means unsent invitations cannot be sent (the job says so).

Using one sets the password and marks every open invitation of the account used, in one
conditional UPDATE, so two tabs or a replayed form cannot use a link twice.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.models import Invitation, User

TTL = timedelta(days=7)
# What a password hash is for an account whose owner has not set one: werkzeug cannot parse it,
# so no password ever matches (and nobody, not even the importer, knows one).
NO_PASSWORD = "!invited"
PATH = "/invitations/"


def token_for(secret_key: str, user_id: int, created_at: datetime) -> str:
    # The moment it was made, to the microsecond (both databases keep them), tells apart two
    # invitations of one account (a new one after the first expired).
    moment = created_at.astimezone(UTC).isoformat(timespec="microseconds")
    message = f"aula-invitation:{user_id}:{moment}".encode()
    mac = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_invitation(user_id: int, secret_key: str, now: datetime | None = None) -> dict[str, object]:
    """The row (for a bulk INSERT) of a fresh invitation for `user_id`."""
    now = now or utcnow()
    return {"user_id": user_id, "token_hash": digest(token_for(secret_key, user_id, now)),
            "created_at": now, "expires_at": now + TTL}


def link_token(secret_key: str, invitation: Invitation) -> str | None:
    """The token of an invitation's link, or None when this key did not make it."""
    token = token_for(secret_key, invitation.user_id, invitation.created_at)
    return token if hmac.compare_digest(digest(token), invitation.token_hash) else None


@dataclass(frozen=True)
class Found:
    invitation: Invitation | None
    user: User | None
    state: str  # open, used, expired, unknown


def find(session: Session, token: str, now: datetime | None = None) -> Found:
    if not token or len(token) > 100:
        return Found(None, None, "unknown")
    row = session.execute(sa.select(Invitation, User).join(User, User.id == Invitation.user_id)
                          .where(Invitation.token_hash == digest(token))).first()
    if row is None:
        return Found(None, None, "unknown")
    invitation, user = row
    if invitation.used_at is not None:
        return Found(invitation, user, "used")
    if invitation.expires_at <= (now or utcnow()):
        return Found(invitation, user, "expired")
    return Found(invitation, user, "open")


def accept(session: Session, found: Found, password_hash: str, now: datetime | None = None) -> bool:
    """Use the invitation: set the account's password, once. False if it was used or expired
    meanwhile (the caller shows that page). The caller commits."""
    assert found.invitation is not None and found.user is not None
    now = now or utcnow()
    taken = session.execute(
        sa.update(Invitation)
        .where(Invitation.id == found.invitation.id, Invitation.used_at.is_(None), Invitation.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        return False
    session.execute(sa.update(Invitation).where(Invitation.user_id == found.user.id, Invitation.used_at.is_(None))
                    .values(used_at=now).execution_options(synchronize_session=False))
    session.execute(sa.update(User).where(User.id == found.user.id).values(password_hash=password_hash)
                    .execution_options(synchronize_session=False))
    return True
