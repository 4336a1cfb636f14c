"""What the operations console reads and records besides the job rows: each attempt of a job,
the counters and per-minute tallies the database keeps as jobs change state, the audit log of
console actions, and paused job types.

job_attempts, job_counts and job_minutes are written by triggers on `jobs` (migration 0006), not
by application code: every path that changes a job (the lifecycle's UPDATEs, bulk inserts,
retention deletes, cascades from a deleted workflow or user) is counted, none can forget to.
Read them through core.jobs.stats.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, UTCDateTime, utcnow

ATTEMPT_OUTCOMES = ("succeeded", "failed", "retrying", "cancelled", "lease_expired")
# PostgreSQL spreads each (type, state) counter over this many rows, one per group of backends,
# so concurrent transitions of one type rarely wait on the same row; readers sum the shards.
COUNT_SHARDS = 8

# Grows by one row per attempt for as long as jobs are kept: 64-bit, except on SQLite, where only
# INTEGER is the auto-incrementing rowid (and is 64-bit anyway).
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class JobAttempt(Base):
    """One run of a job: opened by its claim, closed by its end (or by the reclaim of an expired
    lease), in the same transaction as the job's own change."""

    __tablename__ = "job_attempts"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "attempt", name="uq_job_attempts_job_attempt"),
        sa.CheckConstraint(sa.column("outcome").in_(ATTEMPT_OUTCOMES), name="outcome"),
        # The overview's recent worker activity: the claims of the last minutes.
        sa.Index("ix_job_attempts_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    error: Mapped[str | None] = mapped_column(sa.Text)
    # "instance/pid", as the claim recorded it in jobs.claimed_by.
    worker: Mapped[str | None] = mapped_column(sa.String(128))

    @property
    def is_open(self) -> bool:
        return self.finished_at is None


class JobCount(Base):
    """How many jobs are in each (type, state): the sum of n over the shards."""

    __tablename__ = "job_counts"

    type: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    state: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    shard: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True)
    # One shard may go below zero (a job counted in on one backend, out on another); the sum never does.
    n: Mapped[int] = mapped_column(sa.BigInteger)


class JobMinute(Base):
    """Jobs of a type that reached a terminal state in one minute (UTC, by finished_at).
    total_ms sums the run time of the successes (the succeeding attempt's start to the end), so
    total_ms / succeeded is their mean duration."""

    __tablename__ = "job_minutes"

    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    succeeded: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    cancelled: Mapped[int] = mapped_column(default=0)
    total_ms: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class AuditEntry(Base):
    """One console action: who, what, on what, how many jobs."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # Newest first, one page at a time (keyset on (created_at, id)).
        sa.Index("ix_audit_log_created", "created_at", "id"),
        # The same filtered by action, or by actor (an admin sees their institution's actors).
        sa.Index("ix_audit_log_action_created", "action", "created_at", "id"),
        sa.Index("ix_audit_log_actor_created", "actor_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    # Kept when the actor's account goes: the entry stays, naming nobody.
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    # What it acted on, e.g. "job:<id>", "type:email", "filter" (the filter itself goes in detail).
    target: Mapped[str | None] = mapped_column(sa.String(200))
    count: Mapped[int | None]
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobTypePause(Base):
    """A paused job type: its deliveries are acknowledged without a claim until it is resumed."""

    __tablename__ = "job_type_pauses"

    type: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    paused_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


PERIODIC_RUN_OUTCOMES = ("succeeded", "failed", "skipped")
# cron: sqsd's POST as cron.yaml schedules it; manual: the console's "run now".
PERIODIC_RUN_TRIGGERS = ("cron", "manual")


class PeriodicRun(Base):
    """One run of a periodic task (core/jobs/periodic.py): opened when it starts, closed when it
    ends; `skipped` when another run held the task's lease."""

    __tablename__ = "periodic_runs"
    __table_args__ = (
        sa.CheckConstraint(sa.column("outcome").in_(PERIODIC_RUN_OUTCOMES), name="outcome"),
        sa.CheckConstraint(sa.column("trigger").in_(PERIODIC_RUN_TRIGGERS), name="trigger"),
        # A task's latest runs.
        sa.Index("ix_periodic_runs_task_started", "task", "started_at"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    task: Mapped[str] = mapped_column(sa.String(64))
    trigger: Mapped[str] = mapped_column(sa.String(16), default="cron")
    requested_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    holder: Mapped[str | None] = mapped_column(sa.String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(sa.Text)


class QueueSample(Base):
    """The depth of one queue ("main" or "dead") at one reading (GetQueueAttributes)."""

    __tablename__ = "queue_samples"

    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    queue: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    visible: Mapped[int]
    in_flight: Mapped[int]
    delayed: Mapped[int]
