"""Paused job types (table job_type_pauses), read by both tiers.

While a type is paused its jobs stay queued: the worker acknowledges a delivery of one without
claiming it and marks the job unpublished (worker/runner.py), and nothing sends its messages
(the outbox relay's queries exclude it in SQL; the sender skips it through `paused_types`).
Resuming deletes the row, and the relay sends the backlog in creation order.

The worker and the sender ask on every message, so `paused_types` keeps the set per process
and per engine for CACHE_SECONDS: a pause takes effect within that window (a delivery in it
is claimed and runs, as a job already running when the pause came finishes). The read has a
connection of its own, never the caller's session or transaction.
"""
from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from core.models import Job
from core.models.ops import JobTypePause

CACHE_SECONDS = 1.0

_cache: weakref.WeakKeyDictionary[Engine, tuple[float, frozenset[str]]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _engine(db: Session | Connection | Engine) -> Engine:
    if isinstance(db, Engine):
        return db
    if isinstance(db, Connection):
        return db.engine
    bind = db.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def paused_types(db: Session | Connection | Engine, clock: Callable[[], float] = time.monotonic) -> frozenset[str]:
    """The paused types, at most CACHE_SECONDS old. A database error is raised (the caller
    decides whether not knowing means "not paused")."""
    engine = _engine(db)
    now = clock()
    cached = _cache.get(engine)
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    with engine.connect() as connection:
        found = frozenset(connection.scalars(sa.select(JobTypePause.type)))
    with _lock:
        _cache[engine] = (now, found)
    return found


def forget(db: Session | Connection | Engine | None = None) -> None:
    """Drop the cached set (of one engine, or all): the process that paused or resumed a type
    sees it at once."""
    with _lock:
        if db is None:
            _cache.clear()
        else:
            _cache.pop(_engine(db), None)


def not_paused() -> sa.ColumnElement[bool]:
    """A condition on Job: its type is not paused (for the relay's scans; exact, not cached).
    The pauses are a handful of rows, so this is one small anti-join."""
    return ~sa.exists().where(JobTypePause.type == Job.type)


def listed(session: Session) -> list[JobTypePause]:
    """Every pause, oldest first."""
    return list(session.scalars(sa.select(JobTypePause).order_by(JobTypePause.paused_at, JobTypePause.type)))


def pause_of(session: Session, job_type: str) -> JobTypePause | None:
    """The pause holding `job_type`'s jobs, if any: what a job's page shows as the reason it waits."""
    return session.get(JobTypePause, job_type)
