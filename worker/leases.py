"""A database lease per periodic task name. sqsd does not stop a slow run from overlapping the
next tick (or a retried one), so each run first takes the lease; a second copy finds it held
and skips. A run that dies keeps the lease only until it expires."""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import TaskLease


def acquire(session: Session, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    taken = session.execute(
        sa.update(TaskLease)
        .where(TaskLease.name == name, sa.or_(TaskLease.expires_at.is_(None), TaskLease.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    ).rowcount == 1
    session.commit()
    if taken:
        return True
    if session.scalar(sa.select(TaskLease.name).where(TaskLease.name == name)) is not None:
        return False
    session.add(TaskLease(name=name, holder=holder, expires_at=now + ttl))
    try:
        session.commit()
    except IntegrityError:  # another run created it first
        session.rollback()
        return False
    return True


def release(session: Session, name: str, holder: str) -> None:
    session.execute(
        sa.update(TaskLease).where(TaskLease.name == name, TaskLease.holder == holder).values(expires_at=None)
    )
    session.commit()
