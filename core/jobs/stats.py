"""What the operations console reads about the job engine without counting rows: jobs per
(type, state) from job_counts, finished jobs per minute and per hour from job_minutes, a job's
attempts and the workers' latest claims from job_attempts.

Those tables are kept by triggers on `jobs` (migration 0006), so the answers are exact and
cost a few rows each, however many jobs there are. The charts' windows end at the current
minute or hour, which is still filling.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import UTCDateTime
from core.models import JOB_STATES
from core.models.ops import JobAttempt, JobCount, JobMinute

#: How long job_minutes keeps its rows (the day chart needs 24 hours; a week more to look back on).
MINUTES_KEPT = timedelta(days=8)


def counts(session: Session) -> dict[str, dict[str, int]]:
    """{type: {state: jobs}}, leaving out what is zero."""
    n = sa.func.sum(JobCount.n)
    rows = session.execute(
        sa.select(JobCount.type, JobCount.state, n).group_by(JobCount.type, JobCount.state).having(n != 0)
    )
    found: dict[str, dict[str, int]] = {}
    for job_type, state, total in rows:
        found.setdefault(job_type, {})[state] = int(total)
    return found


def totals(session: Session) -> dict[str, int]:
    """Jobs in each state, every state named (0 when there are none)."""
    return totals_of(counts(session))


def totals_of(by_type: dict[str, dict[str, int]]) -> dict[str, int]:
    """`totals` from what `counts` returned, for a caller that has both to show."""
    found = dict.fromkeys(JOB_STATES, 0)
    for states in by_type.values():
        for state, n in states.items():
            found[state] = found.get(state, 0) + n
    return found


@dataclass(frozen=True)
class Tally:
    """Jobs of one type that finished within one minute or hour."""

    at: datetime  # the bucket's start
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    total_ms: int = 0  # the successes' summed run time

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.cancelled

    @property
    def failure_rate(self) -> float | None:
        """Failures among the runs that ended in success or failure (a cancel is neither)."""
        ran = self.succeeded + self.failed
        return self.failed / ran if ran else None

    @property
    def mean_ms(self) -> float | None:
        return self.total_ms / self.succeeded if self.succeeded else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.at, self.succeeded + other.succeeded, self.failed + other.failed,
                     self.cancelled + other.cancelled, self.total_ms + other.total_ms)


@dataclass(frozen=True)
class Series:
    """Consecutive buckets of one size, oldest first, and each job type's tallies in them
    (zeros included); types with nothing in the window are left out."""

    buckets: tuple[datetime, ...]
    step: timedelta
    by_type: dict[str, tuple[Tally, ...]]

    def overall(self) -> tuple[Tally, ...]:
        """Every type together."""
        total = [Tally(at) for at in self.buckets]
        for tallies in self.by_type.values():
            total = [a + b for a, b in zip(total, tallies, strict=True)]
        return tuple(total)


def last_hour(session: Session, now: datetime, job_type: str | None = None) -> Series:
    """Per minute, the 60 minutes up to and including the current one."""
    return _read(session, now, ("hour",), job_type)["hour"]


def last_day(session: Session, now: datetime, job_type: str | None = None) -> Series:
    """Per hour, the 24 hours up to and including the current one."""
    return _read(session, now, ("day",), job_type)["day"]


def last_hour_and_day(session: Session, now: datetime, job_type: str | None = None) -> dict[str, Series]:
    """{"hour": last_hour, "day": last_day} in one statement (UNION ALL): the overview draws
    both on every poll, and under load each round trip waits for a core like the work does."""
    return _read(session, now, ("hour", "day"), job_type)


@dataclass(frozen=True)
class _Window:
    name: str
    end: datetime
    step: timedelta
    size: int

    @property
    def start(self) -> datetime:
        return self.end - self.step * self.size

    @property
    def buckets(self) -> tuple[datetime, ...]:
        return tuple(self.start + self.step * k for k in range(self.size))

    def series(self, rows: list[Any]) -> Series:
        buckets = self.buckets
        position = {at: k for k, at in enumerate(buckets)}
        found: dict[str, list[Tally]] = {}
        for at, type_name, succeeded, failed, cancelled, total_ms in rows:
            if type_name not in found:
                found[type_name] = [Tally(b) for b in buckets]
            found[type_name][position[at]] = Tally(at, int(succeeded), int(failed), int(cancelled), int(total_ms))
        return Series(buckets, self.step, {name: tuple(found[name]) for name in sorted(found)})


def _window(name: str, now: datetime) -> _Window:
    now = now.astimezone(UTC)
    if name == "hour":
        return _Window(name, now.replace(second=0, microsecond=0) + timedelta(minutes=1), timedelta(minutes=1), 60)
    return _Window(name, now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), timedelta(hours=1), 24)


def _bucket(name: str, dialect: str) -> sa.ColumnElement:
    """A job_minutes row's bucket in the window `name`."""
    if name == "hour":
        return JobMinute.minute
    if dialect == "postgresql":
        hour = sa.func.date_trunc("hour", JobMinute.minute)
    else:  # the text SQLAlchemy stores a DateTime as on SQLite
        hour = sa.func.strftime("%Y-%m-%d %H:00:00.000000", JobMinute.minute)
    return sa.type_coerce(hour, UTCDateTime())


@functools.cache
def _statement(names: tuple[str, ...], dialect: str, of_one_type: bool) -> sa.Select | sa.CompoundSelect:
    """The windows' sums, built once: each window's bounds (and the type) are bound parameters."""
    queries = []
    for name in names:
        bucket = _bucket(name, dialect).label("bucket")
        query = (
            sa.select(sa.literal(name).label("window"), bucket, JobMinute.type, sa.func.sum(JobMinute.succeeded),
                      sa.func.sum(JobMinute.failed), sa.func.sum(JobMinute.cancelled), sa.func.sum(JobMinute.total_ms))
            .where(JobMinute.minute >= sa.bindparam(f"{name}_start", type_=UTCDateTime()),
                   JobMinute.minute < sa.bindparam(f"{name}_end", type_=UTCDateTime()))
            .group_by(bucket, JobMinute.type)
        )
        queries.append(query.where(JobMinute.type == sa.bindparam("type")) if of_one_type else query)
    # The union's columns are typed by its first SELECT's: every window's bucket is a UTCDateTime.
    return queries[0] if len(queries) == 1 else sa.union_all(*queries)


def _read(session: Session, now: datetime, names: tuple[str, ...], job_type: str | None) -> dict[str, Series]:
    windows = [_window(name, now) for name in names]
    values: dict[str, Any] = {"type": job_type} if job_type is not None else {}
    for w in windows:
        values |= {f"{w.name}_start": w.start, f"{w.name}_end": w.end}
    statement = _statement(names, session.get_bind().dialect.name, job_type is not None)
    rows: dict[str, list[Any]] = {name: [] for name in names}
    for window, *row in session.execute(statement, values):
        rows[window].append(row)
    return {w.name: w.series(rows[w.name]) for w in windows}


def attempts(session: Session, job_id: uuid.UUID) -> list[JobAttempt]:
    """A job's attempts, first first."""
    return list(session.scalars(sa.select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.attempt)))


def open_attempt(session: Session, job_id: uuid.UUID) -> JobAttempt | None:
    """The attempt running now, if any."""
    return session.scalars(
        sa.select(JobAttempt).where(JobAttempt.job_id == job_id, JobAttempt.finished_at.is_(None))
        .order_by(JobAttempt.attempt.desc()).limit(1)
    ).first()


@dataclass(frozen=True)
class WorkerActivity:
    worker: str  # "instance/pid"
    last_claim_at: datetime
    claims: int  # within the window asked for


def recent_workers(session: Session, now: datetime, within: timedelta = timedelta(minutes=5)) -> list[WorkerActivity]:
    """Each worker process that claimed a job within `within` of `now`, latest claim first."""
    last = sa.func.max(JobAttempt.started_at)
    rows = session.execute(
        sa.select(JobAttempt.worker, last, sa.func.count())
        .where(JobAttempt.started_at >= now - within, JobAttempt.worker.is_not(None))
        .group_by(JobAttempt.worker).order_by(last.desc(), JobAttempt.worker)
    )
    return [WorkerActivity(worker, at, int(claims)) for worker, at, claims in rows]


def trim_minutes(session: Session, now: datetime, keep: timedelta = MINUTES_KEPT) -> int:
    """Retention: delete job_minutes rows older than `keep` and commit; returns how many.
    A day is ~1,440 rows per job type: one short statement on the primary key."""
    deleted = session.execute(sa.delete(JobMinute).where(JobMinute.minute < now - keep)).rowcount
    session.commit()
    return deleted
