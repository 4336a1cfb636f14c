"""What the overview shows (page and GET /api/ops/overview alike), without counting the jobs table.

Operators see the platform: jobs by state from the job_counts counters (core.jobs.stats), plus
dead-lettered (the partial index ix_jobs_dead_lettered, counted up to COUNT_CAP) and paused (the
queued and retrying jobs of paused types, from the same counters); batches and workflows by
state, each counted up to COUNT_CAP; throughput and failure rate per minute for the last hour
and per hour for the last day, overall and per type (job_minutes); the SQS figures
(web/common/ops/queues.py); the workers' latest claims; the pauses.

Institution admins see their institution only, where that is cheap: its users' own requests
by state (ix_jobs_owner_state_listed: not fan-out children or workflow steps, which the
counters cannot tell apart by institution), its batches and workflows, each counted up to
COUNT_CAP, and the pauses (why their jobs may wait). The counters, charts, queues and workers
are platform-wide, other institutions' activity among them, and no index could scope them
per request: `null` for admins.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.app import Services
from core.jobs import stats
from core.models import Batch, Job, User, Workflow
from core.models.jobs import DEAD_LETTERED, JOB_STATES, LISTED, OPEN_STATES
from core.models.orchestration import OPEN_BATCH, UNFINISHED_WORKFLOW, UNFINISHED_WORKFLOW_STATES, WORKFLOW_STATES
from web.common.ops import queues
from web.common.ops.access import is_operator
from web.common.ops.pauses import pauses_json
from web.common.pagination import COUNT_CAP, CappedCounts, Count, capped_counts

SERIES_FIELDS = ("succeeded", "failed", "cancelled", "failure_rate", "mean_ms")


def _capped_per_owner(session: Session, viewer: User, owner: sa.Column, *conditions: sa.ColumnElement[bool],
                      order_by: tuple[sa.Column, ...] = ()) -> sa.Select:
    """The rows of the viewer's institution's users that meet `conditions`, as a statement for
    capped_counts. On PostgreSQL one index seek per user (a LATERAL join, each side limited): a
    plain `owner IN (...) LIMIT` lets the planner pick a sequential scan that, when the rows it
    wants are few or all at one end of the table, reads the whole table first. `order_by`, the
    rest of the index's columns, keeps the planner on the index for an owner with many rows
    (else it may scan the table for them, and for every user with none)."""
    users = sa.select(User.id).where(User.institution_id == viewer.institution_id).subquery()
    if session.get_bind().dialect.name != "postgresql":
        return sa.select(owner).where(owner.in_(sa.select(users.c.id)), *conditions)
    per_user = (sa.select(sa.literal(1).label("one")).where(owner == users.c.id, *conditions)
                .order_by(*order_by).limit(COUNT_CAP + 1).lateral())
    return sa.select(users.c.id).select_from(users.join(per_user, sa.true()))


def _institution_statements(session: Session, viewer: User) -> dict[tuple[str, str], sa.Select]:
    """{(family, name): statement} of everything an admin's overview counts up to COUNT_CAP."""
    found: dict[tuple[str, str], sa.Select] = {}
    for state in JOB_STATES:
        # ix_jobs_owner_state_listed: (owner_id, state, created_at, id) of LISTED jobs.
        found["jobs", state] = _capped_per_owner(session, viewer, Job.owner_id, Job.state == state,
                                                 sa.text(LISTED), order_by=(Job.created_at, Job.id))
    return found | _orchestration_statements(lambda model, *conditions: _capped_per_owner(
        session, viewer, model.owner_id, *conditions))


def _platform_statements() -> dict[tuple[str, str], sa.Select]:
    """The same for an operator, who sees the platform: dead-lettered jobs besides."""
    found = {("jobs", "dead_lettered"): sa.select(Job.id).where(sa.text(DEAD_LETTERED))}
    return found | _orchestration_statements(lambda model, *conditions: sa.select(model.id).where(*conditions))


def _orchestration_statements(scoped: Callable[..., sa.Select]) -> dict[tuple[str, str], sa.Select]:
    found = {("batches", "open"): scoped(Batch, sa.text(OPEN_BATCH)),
             ("batches", "completed"): scoped(Batch, Batch.completed_at.is_not(None))}
    for state in WORKFLOW_STATES:
        # The unfinished ones through their partial index (its condition as written there).
        unfinished = sa.text(UNFINISHED_WORKFLOW) if state in UNFINISHED_WORKFLOW_STATES else sa.true()
        found["workflows", state] = scoped(Workflow, unfinished, Workflow.state == state)
    return found


@functools.cache
def _platform_counts() -> CappedCounts[tuple[str, str]]:
    """The operator's capped counts name no user or institution: one SELECT, built at the first
    overview of the process."""
    return CappedCounts.of(_platform_statements())


def _counted(capped: dict[tuple[str, str], Count], family: str, counts: dict[str, int] | None = None) -> dict[str, Any]:
    counts = dict(counts or {})
    at_least: list[str] = []
    for (of, name), counted in capped.items():
        if of == family:
            counts[name] = counted.value
            if not counted.exact:
                at_least.append(name)
    return {"counts": counts, "at_least": at_least}


def counts_json(session: Session, viewer: User, held: frozenset[str]) -> dict[str, Any]:
    """The overview's "jobs", "batches" and "workflows": two statements for an operator (the
    counters, then every capped count in one), one for an admin."""
    if is_operator(viewer):
        capped = _platform_counts().read(session)
        by_type = stats.counts(session)
        jobs = _counted(capped, "jobs", stats.totals_of(by_type))
        jobs["counts"]["paused"] = sum(n for name in held for state, n in by_type.get(name, {}).items()
                                       if state in OPEN_STATES)
        types = {name: {**{state: by_type.get(name, {}).get(state, 0) for state in JOB_STATES}, "paused": name in held}
                 for name in sorted(set(by_type) | held)}
        jobs |= {"by_type": types, "scope": "platform"}
    else:
        capped = capped_counts(session, _institution_statements(session, viewer))
        jobs = _counted(capped, "jobs") | {"by_type": None, "scope": "institution"}
    return {"jobs": jobs, "batches": _counted(capped, "batches"), "workflows": _counted(capped, "workflows")}


def series_json(series: stats.Series) -> dict[str, Any]:
    def columns(tallies: tuple[stats.Tally, ...]) -> dict[str, list[Any]]:
        return {name: [_rounded(getattr(t, name)) for t in tallies] for name in SERIES_FIELDS}

    return {
        "step_seconds": int(series.step.total_seconds()),
        "buckets": [at.isoformat() for at in series.buckets],
        "overall": columns(series.overall()),
        "by_type": {name: columns(tallies) for name, tallies in series.by_type.items()},
    }


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def workers_json(session: Session, now: datetime) -> list[dict[str, Any]]:
    return [{"worker": w.worker, "last_claim_at": w.last_claim_at.isoformat(), "claims": w.claims}
            for w in stats.recent_workers(session, now)]


def overview(session: Session, services: Services, viewer: User, now: datetime,
             series: dict[str, stats.Series] | None = None) -> dict[str, Any]:
    """The overview's JSON. `series` (from stats.last_hour_and_day): the caller draws charts from it, and
    the body's "throughput" (the same numbers as JSON, 7% of a page's time) is left null."""
    paused = pauses_json(session, viewer)
    body: dict[str, Any] = {
        "scope": "platform" if is_operator(viewer) else "institution",
        **counts_json(session, viewer, frozenset(p["type"] for p in paused)),
        "pauses": paused,
        "throughput": None, "queues": None, "workers": None,
    }
    if is_operator(viewer):
        if series is None:
            body["throughput"] = {window: series_json(s) for window, s in stats.last_hour_and_day(session, now).items()}
        body["queues"] = queues.figures(services)
        body["workers"] = workers_json(session, now)
    return body
