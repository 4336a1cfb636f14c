"""External effects recorded once by a unique key (an email to one student about one
activity, one stored file per report job), so a redelivered job does not repeat them."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import insert_or_ignore, utcnow
from core.models import Effect


def record_effect(session: Session, key: str, job_id: uuid.UUID | None, detail: dict[str, Any]) -> bool:
    """Record an external effect; it commits with the job's outcome. False if the key was
    already recorded (by another job)."""
    return insert_or_ignore(session, Effect, ["key"], key=key, job_id=job_id, detail=detail, created_at=utcnow())


def record_effects(session: Session, job_id: uuid.UUID | None, effects: Iterable[tuple[str, Mapping[str, Any]]]) -> int:
    """Record several effects (key, detail) in one INSERT ... ON CONFLICT DO NOTHING; they commit
    with the caller's transaction. Returns how many were new: fewer than given means another job
    recorded some of the keys first."""
    now = utcnow()
    rows = [{"key": key, "job_id": job_id, "detail": dict(detail), "created_at": now} for key, detail in effects]
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Effect).values(rows).on_conflict_do_nothing(index_elements=["key"])
    # preserve_rowcount: without it SQLAlchemy reports no rowcount for an INSERT on psycopg.
    return session.execute(statement.execution_options(preserve_rowcount=True)).rowcount
