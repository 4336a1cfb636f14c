"""The record of each periodic task run (core.models.ops.PeriodicRun): the worker opens a row
when a run starts (after it took the task's lease, or as `skipped` when another run held it)
and closes it with the outcome, the run's counts and its error. The console reads the latest
runs of each task here."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models.ops import PeriodicRun

ERROR_KEPT = 4000


def _json_safe(counts: dict[str, Any] | None) -> dict[str, Any] | None:
    if counts is None:
        return None
    return {str(k): v if isinstance(v, (int, float, str, bool)) or v is None else str(v) for k, v in counts.items()}


def opened(session: Session, task: str, trigger: str, requested_by: int | None, holder: str,
           now: datetime) -> int:
    """A running run's row; committed. Returns its id."""
    run = PeriodicRun(task=task, trigger=trigger, requested_by=requested_by, holder=holder, started_at=now)
    session.add(run)
    session.commit()
    return run.id


def skipped(session: Session, task: str, trigger: str, requested_by: int | None, now: datetime,
            reason: str) -> None:
    """A run that found the lease held: started and finished at once, doing nothing; committed."""
    session.add(PeriodicRun(task=task, trigger=trigger, requested_by=requested_by, started_at=now, finished_at=now,
                            outcome="skipped", counts={"skipped": reason}))
    session.commit()


def closed(session: Session, run_id: int, outcome: str, now: datetime, counts: dict[str, Any] | None = None,
           error: str | None = None) -> None:
    session.execute(
        sa.update(PeriodicRun).where(PeriodicRun.id == run_id)
        .values(finished_at=now, outcome=outcome, counts=_json_safe(counts),
                error=None if error is None else error[:ERROR_KEPT])
    )
    session.commit()


def latest(session: Session, task: str, limit: int) -> list[PeriodicRun]:
    """The task's `limit` latest runs, newest first (ix_periodic_runs_task_started)."""
    return list(session.scalars(
        sa.select(PeriodicRun).where(PeriodicRun.task == task)
        .order_by(PeriodicRun.started_at.desc(), PeriodicRun.id.desc()).limit(limit)
    ))
