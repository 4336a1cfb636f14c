"""Batches (fan-out with one follow-up) and workflows (sagas of steps), plus the bookkeeping
rows that make effects and periodic tasks safe under at-least-once delivery."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, UTCDateTime, utcnow

WORKFLOW_STATES = ("running", "succeeded", "compensating", "compensated", "failed", "cancelled")
UNFINISHED_WORKFLOW_STATES = ("running", "compensating")
FINISHED_WORKFLOW_STATES = tuple(s for s in WORKFLOW_STATES if s not in UNFINISHED_WORKFLOW_STATES)


# What the per-user quota counts besides jobs (web/common/submit.py): batches still sending and
# workflows still running, each through a partial index of only those (see core/models/jobs.py
# on why the conditions are written once).
OPEN_BATCH = "completed_at IS NULL"
UNFINISHED_WORKFLOW = "state IN ('running', 'compensating')"


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (
        sa.Index("ix_batches_owner_open", "owner_id",
                 sqlite_where=sa.text(OPEN_BATCH), postgresql_where=sa.text(OPEN_BATCH)),
        # The console's list, newest first (keyset on (created_at, id)).
        sa.Index("ix_batches_created", "created_at", "id"),
        # A job's page: the batches it created, and the batch whose follow-up it is (migration 0010).
        sa.Index("ix_batches_parent_job", "parent_job_id", "created_at"),
        sa.Index("ix_batches_followup_job", "followup_job_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # No foreign key: jobs already point at batches, and a cycle of foreign keys would make
    # table ordering (inserts, deletes, TRUNCATE) ambiguous. Like followup_job_id, a plain id.
    parent_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    # What other code finds the batch by (e.g. core.activities.batch_key); unique, so one
    # activity can never get two batches of emails.
    key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    total: Mapped[int] = mapped_column(default=0)
    succeeded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    followup_type: Mapped[str | None] = mapped_column(sa.String(64))
    followup_payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    followup_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Workflow(Base):
    __tablename__ = "workflows"
    __table_args__ = (
        sa.CheckConstraint(sa.column("state").in_(WORKFLOW_STATES), name="state"),
        sa.Index("ix_workflows_owner_unfinished", "owner_id",
                 sqlite_where=sa.text(UNFINISHED_WORKFLOW), postgresql_where=sa.text(UNFINISHED_WORKFLOW)),
        # The console's list, newest first, all of them or one state.
        sa.Index("ix_workflows_created", "created_at", "id"),
        sa.Index("ix_workflows_state_created", "state", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(64))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(sa.String(16), default="running")
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # What completed steps hand to later steps and to compensations (e.g. created ids).
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Effect(Base):
    """One external effect (an email, a stored file), recorded once by its unique key."""

    __tablename__ = "effects"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TaskLease(Base):
    """Held by one run of a periodic task at a time (sqsd does not prevent overlapping runs)."""

    __tablename__ = "task_leases"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
