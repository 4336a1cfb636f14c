"""The console's batches: the list (newest first, by cursor), one batch with its counters, its
follow-up and the job that created it, and the jobs in it, one page at a time.

Scope as for jobs (web/common/ops/access.py): operators see every batch, an admin those owned by
their institution's users; a batch with no owner, or another institution's, is a 404 to them."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from core.models import Batch, Job, User
from core.models.jobs import JOB_STATES
from core.models.orchestration import OPEN_BATCH
from web.common.access import as_uuid
from web.common.dates import iso
from web.common.ops.access import is_operator, jobs_in_scope, owners_in_scope
from web.common.ops.batches_filters import choice, identifier
from web.common.pagination import Keyset, Page, PageRequest, paginate

BATCH_STATES = ("open", "completed")
#: The list: newest first, ties by id.
BATCHES = Keyset(((Batch.created_at, True), (Batch.id, False)))


def owned_in_scope(user: User, owner_column: Any) -> sa.ColumnElement[bool]:
    """`owner_column` (of batches, workflows) names a user `user` may see the work of."""
    owners = owners_in_scope(user)
    return sa.true() if owners is None else owner_column.in_(owners.scalar_subquery())


def of_institution(owner_column: Any, institution_id: int) -> sa.ColumnElement[bool]:
    return owner_column.in_(sa.select(User.id).where(User.institution_id == institution_id).scalar_subquery())


def batch_filters(args: Mapping[str, str], form: bool = False) -> dict[str, Any]:
    return {"state": choice(args, "state", BATCH_STATES, form), "owner": identifier(args, "owner", form),
            "institution": identifier(args, "institution", form)}


def batches(user: User, state: str | None = None, owner: int | None = None,
            institution: int | None = None) -> sa.Select:
    """The batches `user` may see, newest first (BATCHES), filtered. An admin's institution
    filter is within their own institution anyway: another one lists nothing."""
    query = sa.select(Batch).where(owned_in_scope(user, Batch.owner_id))
    if state == "open":
        query = query.where(sa.text(OPEN_BATCH))  # as written, for ix_batches_owner_open
    elif state == "completed":
        query = query.where(Batch.completed_at.is_not(None))
    if owner is not None:
        query = query.where(Batch.owner_id == owner)
    if institution is not None:
        query = query.where(of_institution(Batch.owner_id, institution))
    return query.order_by(*BATCHES.ordered(forward=True))


def visible_batch(session: Session, user: User, batch_id: str) -> Batch | None:
    key = as_uuid(batch_id)
    if key is None:
        return None
    return session.scalar(sa.select(Batch).where(Batch.id == key, owned_in_scope(user, Batch.owner_id)))


def people(session: Session, ids: Iterable[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.scalars(sa.select(User).where(User.id.in_(wanted)))}


def person(user: User | None, viewer: User) -> dict[str, Any] | None:
    """Who owns or did something, as the console shows them; an email only to operators (an
    admin knows their own institution's people by name)."""
    if user is None:
        return None
    shown = {"id": user.id, "full_name": user.full_name, "role": user.role, "institution_id": user.institution_id}
    if is_operator(viewer):
        shown["email"] = user.email
    return shown


def job_brief(job: Job | None) -> dict[str, Any] | None:
    if job is None:
        return None
    return {"id": str(job.id), "type": job.type, "state": job.state, "attempts": job.attempts,
            "created_at": iso(job.created_at), "started_at": iso(job.started_at), "finished_at": iso(job.finished_at),
            "error": job.error, "url": f"/ops/jobs/{job.id}"}


def jobs_by_id(session: Session, viewer: User, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, Job]:
    """The jobs of `ids` that `viewer` may see (a batch's follow-up or parent could be someone
    else's, e.g. periodic work with no owner: then it is not shown to an admin)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {j.id: j for j in session.scalars(sa.select(Job).where(Job.id.in_(wanted), jobs_in_scope(viewer)))}


def batch_summary(batch: Batch, owner: User | None, followup: Job | None, viewer: User) -> dict[str, Any]:
    return {
        "id": str(batch.id),
        "description": batch.description,
        "key": batch.key,
        "state": "open" if batch.completed_at is None else "completed",
        "total": batch.total,
        "succeeded": batch.succeeded,
        "failed": batch.failed,
        "pending": max(0, batch.total - batch.succeeded - batch.failed),
        "owner": person(owner, viewer),
        "created_at": iso(batch.created_at),
        "completed_at": iso(batch.completed_at),
        "followup_type": batch.followup_type,
        "followup": job_brief(followup),
        "url": f"/api/ops/batches/{batch.id}",
    }


def batch_page_items(session: Session, page: Page[Batch], viewer: User) -> list[dict[str, Any]]:
    """The page's batches with their owners and follow-ups: two more queries, whatever the size."""
    owners = people(session, (b.owner_id for b in page.items))
    followups = jobs_by_id(session, viewer, (b.followup_job_id for b in page.items))
    return [batch_summary(b, owners.get(b.owner_id), followups.get(b.followup_job_id), viewer) for b in page.items]


def batch_jobs(batch: Batch, viewer: User, state: str | None = None) -> tuple[sa.Select, Keyset]:
    """The jobs in a batch, oldest first, still only those `viewer` may see (although a batch's
    children are its owner's), and the keyset of that order.

    The batch's rows are found by ix_jobs_batch (batch_id, state) and then sorted: behind an
    OFFSET 0 fence, because otherwise PostgreSQL may walk ix_jobs_created (created_at, id) in
    order looking for the batch's rows, which it takes to be spread evenly over a million jobs
    when they are all in one stretch of time (measured: 250-700 ms for a batch of 1,000 at 10^6
    jobs, against 2-10 ms fenced). The sort is of one batch's jobs, its chunks."""
    inner = sa.select(Job).where(Job.batch_id == batch.id, jobs_in_scope(viewer))
    if state is not None:
        inner = inner.where(Job.state == state)
    fenced = aliased(Job, inner.offset(0).subquery("batch_jobs"))
    keyset = Keyset(((fenced.created_at, False), (fenced.id, False)))
    return sa.select(fenced).order_by(*keyset.ordered(forward=True)), keyset


def batch_detail(session: Session, batch: Batch, viewer: User, args: Mapping[str, str],
                 form: bool = False) -> tuple[dict[str, Any], Page[Job]]:
    """One batch as GET /api/ops/batches/<id> shows it, with one page of its jobs (`args`: size,
    after, before, job_state), and that page."""
    job_state = choice(args, "job_state", JOB_STATES, form)
    statement, keyset = batch_jobs(batch, viewer, job_state)
    page = paginate(session, statement, PageRequest.from_args(args), keyset=keyset)
    related = jobs_by_id(session, viewer, (batch.followup_job_id, batch.parent_job_id))
    owner = session.get(User, batch.owner_id) if batch.owner_id is not None else None
    body = batch_summary(batch, owner, related.get(batch.followup_job_id), viewer)
    body["created_by_job"] = job_brief(related.get(batch.parent_job_id))
    body["jobs"] = {"items": [job_brief(j) for j in page.items], "job_state": job_state, **page.meta()}
    return body, page


def batches_listed(session: Session, viewer: User, args: Mapping[str, str],
                   form: bool = False) -> tuple[dict[str, Any], Page[Batch], list[dict[str, Any]]]:
    """The list as GET /api/ops/batches and /ops/batches show it: (filters, page, rows)."""
    filters = batch_filters(args, form)
    page = paginate(session, batches(viewer, **filters), PageRequest.from_args(args), keyset=BATCHES)
    return filters, page, batch_page_items(session, page, viewer)
