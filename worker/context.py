"""What a handler gets: its job, a session, the shared services, and progress points."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from core.app import Services
from core.db import utcnow
from core.jobs import lifecycle
from core.jobs.contract import JobType
from core.jobs.lifecycle import ClaimedJob
from worker.errors import JobCancelled, TimeLimitExceeded


@dataclass
class JobContext:
    job: ClaimedJob
    job_type: JobType
    attempt: int
    session: Session
    services: Services
    started: float = field(default_factory=time.monotonic)
    # When the lease was last set (the claim, then each progress point): it runs for
    # job_type.lease from then.
    renewed_at: float = field(default_factory=time.monotonic)

    def lease_left(self) -> float:
        """Seconds until this run's lease expires and another delivery may take the job over."""
        return self.renewed_at + self.job_type.lease.total_seconds() - time.monotonic()

    def _sqlite_writer(self) -> bool:
        """SQLite has one write lock per file: once the handler has written, a progress point
        on another connection would wait for the handler's own commit. Skip it then (local
        development only; PostgreSQL records every progress point)."""
        session = self.session
        if session.get_bind().dialect.name != "sqlite" or not session.in_transaction():
            return False
        return bool(session.connection().connection.dbapi_connection.in_transaction)

    def _check_time_limit(self) -> None:
        if time.monotonic() - self.started > self.job_type.time_limit_seconds:
            raise TimeLimitExceeded(f"ran longer than the {self.job_type.time_limit_seconds} s time limit")

    def progress(self, percent: int) -> None:
        """A progress point: records progress, renews the lease, and stops the run if it lost
        the job (reclaimed or cancelled) or went past its time limit. The handler's own writes
        stay open: they commit with the outcome."""
        self._check_time_limit()
        if self._sqlite_writer():
            return
        # Its own short transaction, so pollers see progress while the handler's work is open.
        renewing = time.monotonic()
        with self.services.db.sessions() as side:
            owned = lifecycle.heartbeat(side, self.job.id, self.attempt, percent, self.job_type.lease, utcnow())
        self.renewed_at = renewing
        if not owned:
            raise JobCancelled("this run no longer owns the job")

    def checkpoint(self, percent: int, result: dict[str, Any] | None = None) -> None:
        """A progress point that also commits the handler's writes so far, for a handler whose
        work is a series of external effects (each email of a chunk): what it recorded then
        survives whatever ends this run (a crash, a retry, a cancellation), and `result`, the
        partial result, is on the job row for them (a batch counts a child by it). Then, like
        `progress`, stops the run if it lost the job, was asked to cancel, or ran out of time:
        always after the commit, since what was recorded happened."""
        renewing = time.monotonic()
        state = lifecycle.checkpoint(self.session, self.job.id, self.attempt, percent, self.job_type.lease, utcnow(),
                                     result)
        self.session.commit()
        self.renewed_at = renewing
        if state == "lost":
            raise JobCancelled("this run no longer owns the job")
        if state == "cancel_requested":
            raise JobCancelled("its owner asked to cancel it")
        self._check_time_limit()
