"""The job row: the record is the truth, the SQS message only a wake-up call.

A row with `published_at IS NULL` in an open state is the transactional outbox: its message
has not been handed to SQS yet, and the relay will send it.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, UTCDateTime, utcnow

JOB_STATES = ("queued", "running", "retrying", "succeeded", "failed", "cancelled")
TERMINAL_STATES = ("succeeded", "failed", "cancelled")
OPEN_STATES = ("queued", "retrying")

# Partial indexes' conditions, written once: a query that means to use one of these indexes
# repeats its condition word for word (sa.text), because SQLite only uses a partial index when
# the query's WHERE contains the index's terms as written, and PostgreSQL can only prove the
# index applies from constants, not from bound parameters.
#: An identical request is still in progress (coalescing).
OPEN_DEDUPE = "state IN ('queued', 'running', 'retrying') AND dedupe_key IS NOT NULL"
#: What a user's list of jobs shows: the jobs they asked for, not fan-out children or workflow steps.
LISTED = "batch_id IS NULL AND workflow_id IS NULL"
#: What the per-user quota counts of jobs (web/common/submit.py): those the user asked for that are in flight.
ASKED_IN_FLIGHT = ("state IN ('queued', 'retrying', 'running') AND parent_id IS NULL"
                   " AND batch_id IS NULL AND workflow_id IS NULL")


#: The console's partial indexes: only jobs with a parent, only dead-lettered jobs.
HAS_PARENT = "parent_id IS NOT NULL"
DEAD_LETTERED = "dead_lettered_at IS NOT NULL"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(sa.column("state").in_(JOB_STATES), name="state"),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name="progress"),
        # The relay's and the stalled-job reclaim's scans.
        sa.Index("ix_jobs_state_published", "state", "published_at"),
        sa.Index("ix_jobs_state_lease", "state", "lease_expires_at"),
        sa.Index("ix_jobs_owner_created", "owner_id", "created_at"),
        sa.Index("ix_jobs_batch", "batch_id", "state"),
        sa.Index("ix_jobs_workflow", "workflow_id", "created_at"),
        # Coalescing: at most one open job per identical request. A partial index, so a
        # finished job no longer blocks asking again.
        sa.Index("uq_jobs_open_dedupe", "dedupe_key", unique=True,
                 sqlite_where=sa.text(OPEN_DEDUPE), postgresql_where=sa.text(OPEN_DEDUPE)),
        # A user's jobs newest first, one page at a time (web.common.access.own_jobs, read
        # backwards): only the jobs they asked for, so a million fan-out children cost nothing here.
        sa.Index("ix_jobs_owner_listed", "owner_id", "created_at", "id",
                 sqlite_where=sa.text(LISTED), postgresql_where=sa.text(LISTED)),
        # The same filtered by state.
        sa.Index("ix_jobs_owner_state_listed", "owner_id", "state", "created_at", "id",
                 sqlite_where=sa.text(LISTED), postgresql_where=sa.text(LISTED)),
        # What the per-user quota counts on every request that creates work: only the jobs in
        # flight are in it, so the count costs the same however many finished jobs the user
        # has, and however long the queue of other users' and fan-out jobs is.
        sa.Index("ix_jobs_owner_in_flight", "owner_id",
                 sqlite_where=sa.text(ASKED_IN_FLIGHT), postgresql_where=sa.text(ASKED_IN_FLIGHT)),
        # The operations console's lists: every job newest first, or one state, or one type (keyset on
        # (created_at, id)); a job's children; the dead-lettered jobs.
        sa.Index("ix_jobs_created", "created_at", "id"),
        sa.Index("ix_jobs_state_created", "state", "created_at", "id"),
        sa.Index("ix_jobs_type_created", "type", "created_at", "id"),
        # One institution's jobs of one state, owner by owner (web/common/ops/jobs_list.py).
        sa.Index("ix_jobs_owner_state_created", "owner_id", "state", "created_at", "id"),
        sa.Index("ix_jobs_parent", "parent_id", sqlite_where=sa.text(HAS_PARENT), postgresql_where=sa.text(HAS_PARENT)),
        sa.Index("ix_jobs_dead_lettered", "dead_lettered_at",
                 sqlite_where=sa.text(DEAD_LETTERED), postgresql_where=sa.text(DEAD_LETTERED)),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(sa.String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    progress: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    trace_id: Mapped[str] = mapped_column(sa.String(64), default=lambda: uuid.uuid4().hex)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="SET NULL"))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("batches.id", ondelete="SET NULL"))
    workflow_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("workflows.id", ondelete="CASCADE"))
    # The workflow step this job runs, e.g. "classes", or "undo:classes" for its compensation.
    step: Mapped[str | None] = mapped_column(sa.String(64))
    # The failed or cancelled job this one reprocesses (a new job; the original stays as it was).
    reprocess_of_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("jobs.id", ondelete="SET NULL"))
    # What created the job (JOB_ORIGINS); NULL on rows older than the column: derived from the links.
    origin: Mapped[str | None] = mapped_column(sa.String(16))
    # "instance/pid" of the worker running the current (or last) attempt, copied into job_attempts.
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(64))
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dead_lettered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


JOB_ORIGINS = ("request", "parent", "batch", "workflow", "reprocess", "periodic", "cli")

# A job's reprocess copies (the console's lineage), and what ON DELETE SET NULL looks up when a
# job goes: partial, since almost no job is a copy.
sa.Index("ix_jobs_reprocess_of", Job.reprocess_of_id,
         sqlite_where=sa.text("reprocess_of_id IS NOT NULL"), postgresql_where=sa.text("reprocess_of_id IS NOT NULL"))
