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

from core.jobs.ops_jobs_filter import JobFilter
from core.jobs.types import JOB_TYPES
from core.models import Institution, Job, User
from web.common.dates import iso
from web.common.ops.access import is_operator, jobs_in_scope
from web.common.ops.job_redaction import redact_text
from web.common.ops.jobs_guard import bounded
from web.common.ops.jobs_params import JobsQuery
from web.common.pagination import COUNT_CAP, Count, Keyset, Page, PageParamError, PageRequest, paginate
from web.common.refusal import Refusal

NEWEST = Keyset(((Job.created_at, True), (Job.id, True)))
OLDEST = Keyset(((Job.created_at, False), (Job.id, False)))
MAX_OFFSET_PAGE = 50
ERROR_SHOWN = 200  # characters of an error in a list row
FIRST_TRY_MS = 60


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


def _institution(viewer: User, job_filter: JobFilter) -> int | None:
    """The one institution the list is limited to (an admin's, or an operator's filter), if any."""
    return job_filter.institution_id if is_operator(viewer) else viewer.institution_id


def page_of_jobs(session: Session, viewer: User, query: JobsQuery, request: PageRequest) -> Page[Job]:
    if request.after is None and request.before is None and request.page > MAX_OFFSET_PAGE:
        raise PageParamError("page", f"page numbers go up to {MAX_OFFSET_PAGE}; follow the `next` cursor beyond")
    keyset = NEWEST if query.newest_first else OLDEST
    dialect = session.get_bind().dialect.name
    job_filter, institution = query.filter, _institution(viewer, query.filter)
    statement = (sa.select(Job).where(jobs_in_scope(viewer), *job_filter.conditions(dialect))
                 .order_by(*keyset.ordered(forward=True)))
    if dialect != "postgresql" or institution is None or job_filter.owner_id is not None:
        with bounded(session, job_filter):
            return paginate(session, statement, request, keyset=keyset)
    # One institution's jobs: through the platform-wide indexes first, which is quick when the
    # institution has a fair share of the jobs (its rows come soon); when that is slow (a small
    # school among a million jobs), owner by owner, which costs one probe per user instead.
    try:
        with bounded(session, job_filter, timeout_ms=FIRST_TRY_MS):
            return paginate(session, statement, request, keyset=keyset)
    except Refusal as exc:
        if exc.status != 422:
            raise
    with bounded(session, job_filter):
        return _owner_by_owner(session, institution, job_filter, dialect, keyset, request)


def _owner_by_owner(session: Session, institution: int, job_filter: JobFilter, dialect: str, keyset: Keyset,
                    request: PageRequest) -> Page[Job]:
    """One institution's jobs, no owner given: the newest (or oldest) `size + 1` of each of its
    users by ix_jobs_owner_created, merged. Walking ix_jobs_created and
    keeping the institution's rows costs what the other institutions' jobs cost (a small school
    among a million jobs reads them all); this costs one index probe per user of the institution.
    Same answers, same cursors as `paginate`. PostgreSQL only (SQLite has no LATERAL; it is local
    development, where the plain plan does)."""
    owners = sa.select(User.id.label("owner")).where(User.institution_id == institution).subquery("owners")
    conditions = job_filter.model_copy(update={"institution_id": None}).conditions(dialect)

    def ids(extra: list[Any], forward: bool, limit: int, offset: int = 0) -> list[Any]:
        inner = (sa.select(Job.id, Job.created_at).where(Job.owner_id == owners.c.owner, *conditions, *extra)
                 .order_by(*keyset.ordered(forward)).limit(limit + offset).lateral("own"))
        descending = keyset.order[0][1] == forward
        order = [inner.c.created_at.desc(), inner.c.id.desc()] if descending else [inner.c.created_at, inner.c.id]
        return list(session.execute(sa.select(inner.c.id).select_from(owners).join(inner, sa.true())
                                    .order_by(*order).limit(limit).offset(offset)).scalars())

    def load(job_ids: list[Any]) -> list[Job]:
        found = {job.id: job for job in session.scalars(sa.select(Job).where(Job.id.in_(job_ids)))} if job_ids else {}
        return [found[job_id] for job_id in job_ids if job_id in found]

    capped = ids([], True, COUNT_CAP + 1)
    count = Count(min(len(capped), COUNT_CAP), len(capped) <= COUNT_CAP)
    size, earlier = request.size, False
    if request.before is not None:
        before = keyset.read(request.before, "before")
    if request.after is not None:
        number, key = keyset.read(request.after, "after")
        rows = load(ids([keyset.beyond(key, forward=True)], True, size + 1))
        more, rows = len(rows) > size, rows[:size]
    elif request.before is not None:
        number, key = before
        rows = load(ids([keyset.beyond(key, forward=False)], False, size + 1))
        earlier, more, rows = len(rows) > size, True, rows[:size][::-1]
        if not earlier:
            number = 1
        elif number == 1:
            earlier = True
    else:
        number = request.page
        rows = load(ids([], True, size + 1, (number - 1) * size))
        more, rows = len(rows) > size, rows[:size]
    next_cursor = keyset.cursor(number + 1, rows[-1]) if rows and more else None
    previous_cursor = keyset.cursor(max(1, number - 1), rows[0]) if rows and (number > 1 or earlier) else None
    return Page(items=rows, total=count.value, page=number, size=size, exact=count.exact, more=more, earlier=earlier,
                next_cursor=next_cursor, previous_cursor=previous_cursor, cursors=True)


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


def owner_json(owner: Any, personal: bool = False) -> dict[str, Any] | None:
    """The owner as the console shows them: the email only to operators (`personal`), as
    web/common/ops/batches.person does; an admin knows their own institution's people by name."""
    if owner is None:
        return None
    shown = {"id": owner.id, "full_name": owner.full_name, "role": owner.role}
    if personal:
        shown["email"] = owner.email
    return shown


def row_json(job: Job, owner: Any, personal: bool = False) -> dict[str, Any]:
    """A job as one row of the console's list; its error with secrets masked, and personal data
    too unless `personal` (the viewer is an operator)."""
    error = None if job.error is None else redact_text(job.error, personal)
    return {
        "id": str(job.id),
        "type": job.type,
        "type_label": type_label(job.type),
        "state": job.state,
        "dead_lettered": job.dead_lettered_at is not None,
        "owner": owner_json(owner, personal),
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


def rows_json(session: Session, viewer: User, jobs: list[Job]) -> list[dict[str, Any]]:
    owners, personal = owners_of(session, jobs), is_operator(viewer)
    return [row_json(job, owners.get(job.owner_id), personal) for job in jobs]
