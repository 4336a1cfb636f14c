"""The console's jobs list (GET /api/ops/jobs and /ops/jobs): every job the viewer may see
(web/common/ops/access.py), filtered (core/jobs/ops_jobs_filter.py), newest or oldest first,
one keyset page at a time on (created_at, id), the order of ix_jobs_created and of the
(state|type, created_at, id) indexes behind an equality filter, so a page deep in a million
rows costs what the first does. `?page=N` (OFFSET) is allowed only for the first MAX_OFFSET_PAGE
pages; beyond, the cursors go on.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.types import JOB_TYPES
from core.models import Institution, Job, User
from web.common.dates import iso
from web.common.ops.access import jobs_in_scope
from web.common.ops.jobs_guard import bounded
from web.common.ops.jobs_params import JobsQuery
from web.common.pagination import Keyset, Page, PageParamError, PageRequest, paginate

NEWEST = Keyset(((Job.created_at, True), (Job.id, True)))
OLDEST = Keyset(((Job.created_at, False), (Job.id, False)))
MAX_OFFSET_PAGE = 50
ERROR_SHOWN = 200  # characters of an error in a list row


def type_label(job_type: str) -> str:
    declared = JOB_TYPES.get(job_type)
    return declared.label if declared else job_type.replace("_", " ").capitalize()


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def queue_wait(job: Any) -> float | None:
    """From when the job could first run (its message sent, else its creation) to its first start."""
    return seconds_between(job.published_at or job.created_at, job.started_at)


def duration(job: Any) -> float | None:
    return seconds_between(job.started_at, job.finished_at)


def page_of_jobs(session: Session, viewer: User, query: JobsQuery, request: PageRequest) -> Page[Job]:
    if request.after is None and request.before is None and request.page > MAX_OFFSET_PAGE:
        raise PageParamError("page", f"page numbers go up to {MAX_OFFSET_PAGE}; follow the `next` cursor beyond")
    keyset = NEWEST if query.newest_first else OLDEST
    dialect = session.get_bind().dialect.name
    statement = (sa.select(Job).where(jobs_in_scope(viewer), *query.filter.conditions(dialect))
                 .order_by(*keyset.ordered(forward=True)))
    with bounded(session, query.filter):
        return paginate(session, statement, request, keyset=keyset)


def owners_of(session: Session, jobs: list[Job]) -> dict[int, Any]:
    """The owners of a page of jobs, with their institution's name: one query."""
    ids = {job.owner_id for job in jobs if job.owner_id is not None}
    if not ids:
        return {}
    rows = session.execute(
        sa.select(User.id, User.email, User.full_name, User.role, User.institution_id,
                  Institution.name.label("institution_name"))
        .outerjoin(Institution, Institution.id == User.institution_id).where(User.id.in_(ids)))
    return {row.id: row for row in rows}


def owner_json(owner: Any) -> dict[str, Any] | None:
    if owner is None:
        return None
    return {"id": owner.id, "email": owner.email, "full_name": owner.full_name, "role": owner.role}


def row_json(job: Job, owner: Any) -> dict[str, Any]:
    """A job as one row of the console's list."""
    error = job.error
    return {
        "id": str(job.id),
        "type": job.type,
        "type_label": type_label(job.type),
        "state": job.state,
        "dead_lettered": job.dead_lettered_at is not None,
        "owner": owner_json(owner),
        "institution": None if owner is None or owner.institution_id is None else
        {"id": owner.institution_id, "name": owner.institution_name},
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "queue_wait_seconds": queue_wait(job),
        "duration_seconds": duration(job),
        "attempts": job.attempts,
        "progress": job.progress,
        "error": None if error is None else error[:ERROR_SHOWN] + ("…" if len(error) > ERROR_SHOWN else ""),
    }


def rows_json(session: Session, jobs: list[Job]) -> list[dict[str, Any]]:
    owners = owners_of(session, jobs)
    return [row_json(job, owners.get(job.owner_id)) for job in jobs]
