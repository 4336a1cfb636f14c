from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime, utcnow

# An operator is platform staff: across institutions, so belonging to none (the only role that may).
ROLES = ("admin", "teacher", "student", "operator")


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


HAS_EXTERNAL_ID = "external_id IS NOT NULL"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint(sa.column("role").in_(ROLES), name="role"),
        sa.CheckConstraint("role = 'operator' OR institution_id IS NOT NULL", name="institution"),
        # A roster's own id for a person, unique within the institution (the import matches by it).
        sa.Index("uq_users_institution_external_id", "institution_id", "external_id", unique=True,
                 sqlite_where=sa.text(HAS_EXTERNAL_ID), postgresql_where=sa.text(HAS_EXTERNAL_ID)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int | None] = mapped_column(sa.ForeignKey("institutions.id"), index=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An IANA time zone name ("America/Sao_Paulo"); None until the browser's guess is stored.
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))
    external_id: Mapped[str | None] = mapped_column(sa.String(100))

    institution: Mapped[Institution | None] = relationship()

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "email": self.email,
            "full_name": self.full_name,
            "role": self.role,
            "institution_id": self.institution_id,
        }


TOKEN_KINDS = ("bearer", "browser")


class ApiToken(Base):
    """A login: a bearer token (POST /api/login) or a browser session (the pages' cookie holds
    the token). Only its SHA-256 is stored, so a database dump leaks no usable tokens; deleting
    the row ends the login at once, wherever the token or cookie was copied to."""

    __tablename__ = "api_tokens"
    __table_args__ = (sa.CheckConstraint(sa.column("kind").in_(TOKEN_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="bearer", server_default="bearer")
    # What logged in (the User-Agent, shortened), so a user can tell their logins apart.
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed logins counted per account (the email asked for, known or not) and per client
    address, in the database so the limit holds across gunicorn workers and instances. The key
    is a SHA-256, so an address or a mistyped email is not kept in clear."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(16))
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lockouts: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Invitation(Base):
    """A single-use, expiring link to set a password (a roster import's new accounts). Only the
    token's SHA-256 is kept, as for logins."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
