"""Retention: delete finished jobs, workflows, batches and effect records, and read
notifications, older than their configured ages; and the console's own history: per-minute job
tallies and queue depth readings after QUEUE_SAMPLES_KEPT (the charts look back a day, a week
more to compare), periodic task runs after the job retention. In chunks, one short transaction
each, so a run never holds a long lock on tables the web tier is using."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.stats import MINUTES_KEPT, trim_minutes
from core.models import ApiToken, Batch, Effect, Job, LoginThrottle, Notification, Workflow
from core.models.jobs import TERMINAL_STATES
from core.models.ops import PeriodicRun, QueueSample
from core.models.orchestration import FINISHED_WORKFLOW_STATES

QUEUE_SAMPLES_KEPT = MINUTES_KEPT


def _delete_in_chunks(session: Session, model: Any, key: Any, condition: Any, chunk: int, max_chunks: int) -> int:
    deleted = 0
    for _ in range(max_chunks):
        ids = session.scalars(sa.select(key).where(condition).limit(chunk)).all()
        if not ids:
            break
        deleted += session.execute(sa.delete(model).where(key.in_(ids))).rowcount
        session.commit()
    return deleted


def purge(
    session: Session, *, now: datetime, job_days: int, notification_days: int, chunk: int = 500, max_chunks: int = 40
) -> dict[str, int]:
    job_cutoff = now - timedelta(days=job_days)
    run = lambda model, key, condition: _delete_in_chunks(session, model, key, condition, chunk, max_chunks)
    return {
        # A workflow's step jobs go with it (ON DELETE CASCADE).
        "workflows": run(Workflow, Workflow.id,
                         sa.and_(Workflow.state.in_(FINISHED_WORKFLOW_STATES), Workflow.finished_at < job_cutoff)),
        "jobs": run(Job, Job.id, sa.and_(Job.state.in_(TERMINAL_STATES), Job.finished_at < job_cutoff)),
        "batches": run(Batch, Batch.id, Batch.completed_at < job_cutoff),
        "effects": run(Effect, Effect.key, Effect.created_at < job_cutoff),
        "notifications": run(Notification, Notification.id, sa.and_(
            Notification.read_at.is_not(None), Notification.read_at < now - timedelta(days=notification_days))),
        "tokens": run(ApiToken, ApiToken.id, ApiToken.expires_at < now),
        # A day without failures forgets an account's or address's lock history anyway.
        "login_throttles": run(LoginThrottle, LoginThrottle.key, sa.and_(
            LoginThrottle.updated_at < now - timedelta(days=1),
            sa.or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until < now))),
        # One statement on the primary key: a day is ~1,440 rows per job type.
        "job_minutes": trim_minutes(session, now),
        # Two readings (main, dead) per monitor pass; a timestamp's readings go together.
        "queue_samples": run(QueueSample, QueueSample.taken_at, QueueSample.taken_at < now - QUEUE_SAMPLES_KEPT),
        "periodic_runs": run(PeriodicRun, PeriodicRun.id, PeriodicRun.started_at < job_cutoff),
    }
