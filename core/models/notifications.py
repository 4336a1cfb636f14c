from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime, utcnow

#: The condition of the unread-notifications index, for the queries that use it (see
#: core/models/jobs.py on why it is written once).
UNREAD = "read_at IS NULL"


class Notification(Base):
    """An in-app notification. `dedupe_key` makes creating one idempotent: a redelivered job
    that notifies again inserts nothing new."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "dedupe_key", name="uq_notifications_user_dedupe"),
        # The inbox newest first, one page at a time (web.common.access.own_notifications, in
        # its order), and the same for only the unread ones, which the unread count and "mark
        # all read" use too.
        sa.Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        sa.Index("ix_notifications_user_unread", "user_id", "created_at", "id",
                 sqlite_where=sa.text(UNREAD), postgresql_where=sa.text(UNREAD)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    activity_id: Mapped[int | None] = mapped_column(sa.ForeignKey("activities.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The path in the app this is about ("/activities/12"); emails make it absolute.
    link: Mapped[str | None] = mapped_column(sa.String(500))


#: How a user wants a kind of notification beyond the inbox (which always has it).
CHANNELS = ("email", "digest", "off")


class NotificationPreference(Base):
    """A user's choice for one kind of notification; no row means the kind's default."""

    __tablename__ = "notification_preferences"
    __table_args__ = (sa.CheckConstraint(sa.column("channel").in_(CHANNELS), name="channel"),)

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
