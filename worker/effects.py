"""External effects recorded once by a unique key (an email to one student about one
activity, one stored file per report job), so a redelivered job does not repeat them.

An effect that cannot be undone and whose outcome arrives only after it happened (an email:
SES takes no idempotency key) is noted before it happens: `note_intent` inserts its row marked
`SENDING`, the caller commits that before acting, and `record_outcomes` later replaces the mark
with the outcome, or deletes the row of an effect that did not happen. A row still marked is an
effect whose run ended between the two: it may have happened (`is_intent`)."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import insert_or_ignore, utcnow
from core.models import Effect

# detail["state"] of an effect noted but whose outcome is not recorded (yet).
SENDING = "sending"

_OUTCOME = (sa.update(Effect.__table__)
            .where(Effect.__table__.c.key == sa.bindparam("k"), Effect.__table__.c.job_id == sa.bindparam("j"))
            .values(detail=sa.bindparam("d", type_=Effect.__table__.c.detail.type)))


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


def is_intent(detail: Mapping[str, Any] | None) -> bool:
    """Whether an effect's row is an intent without an outcome: the effect may have happened."""
    return bool(detail) and detail.get("state") == SENDING


def note_intent(session: Session, key: str, job_id: uuid.UUID, detail: Mapping[str, Any]) -> bool:
    """Add the intent of an effect to the session's transaction, for the caller to commit before
    the effect happens. False if the key has a row already (another run or job holds it): the
    caller must not act then.

    The commit is durable (synchronous_commit as the server has it): with it off, a crash of the
    database server lost the last fraction of a second of intents, and their effects, done but
    recorded nowhere, were done again on retry (make chaos R5's immediate stop: 3 emails twice
    in 756)."""
    return record_effects(session, job_id, [(key, {**detail, "state": SENDING})]) == 1


def record_outcomes(session: Session, job_id: uuid.UUID, happened: Sequence[tuple[str, Mapping[str, Any]]],
                    did_not: Sequence[str]) -> None:
    """Record the outcomes of this job's intents: the rows of the effects that `happened` get their
    detail (which replaces the intent's mark), those that `did_not` happen are deleted, so a later
    run may try them again. Rows another job holds are left alone."""
    if happened:
        session.execute(_OUTCOME, [{"k": key, "j": job_id, "d": dict(detail)} for key, detail in happened])
    if did_not:
        session.execute(sa.delete(Effect).where(Effect.key.in_(did_not), Effect.job_id == job_id))
