"""Bulk reprocess or cancel of everything matching the jobs list's filter (operators only):
the count the confirmation names, and the `ops_bulk` job that does it
(worker/handlers/ops_bulk.py: chunked, throttled, checkpointed, cancellable).

The count is of the jobs the action would change (the filter, and a state the action acts on).
It is cheap: with no filter but state and type it is the job_counts counters (exact, however many
millions); otherwise a count capped at COUNT_CAP under the console's statement timeout ("more
than 10,000"). The confirmation sends the count it showed back as `expected_count`; if the
filter matches a different number by then (an exact count only), the request is refused (409)
so that nobody confirms one number and acts on another.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import utcnow
from core.jobs import stats
from core.jobs.ops_jobs_actions import BULK_ACTS_ON
from core.jobs.ops_jobs_filter import JobFilter
from core.jobs.outbox import new_job
from core.jobs.types import OPS_BULK, OpsBulkPayload
from core.models import Job, User
from core.parsing import InputError
from web.common.ops import audit
from web.common.ops.access import operator_only
from web.common.ops.jobs_guard import bounded
from web.common.ops.jobs_params import JobsQuery
from web.common.pagination import Count, capped_count
from web.common.refusal import Refusal

ACTIONS = tuple(BULK_ACTS_ON)
COUNT_CAP = 10_000


def action(raw: object) -> str:
    if raw not in ACTIONS:
        raise InputError("action", f"action must be one of {', '.join(ACTIONS)}")
    return str(raw)


@dataclass(frozen=True)
class BulkCount:
    action: str
    count: Count

    def describe(self) -> str:
        return f"{self.count.value:,}" if self.count.exact else f"more than {self.count.value:,}"


def count_for(session: Session, job_filter: JobFilter, act: str) -> BulkCount:
    states = [s for s in BULK_ACTS_ON[act] if job_filter.state in (None, s)]
    if job_filter.only_state_or_type:
        counts = stats.counts(session)
        total = sum(n for job_type, by_state in counts.items() if job_filter.type in (None, job_type)
                    for state, n in by_state.items() if state in states)
        return BulkCount(act, Count(total, True))
    dialect = session.get_bind().dialect.name
    statement = sa.select(Job.id).where(*job_filter.conditions(dialect), Job.state.in_(BULK_ACTS_ON[act]))
    with bounded(session, job_filter):
        return BulkCount(act, capped_count(session, statement, COUNT_CAP))


def start_bulk(session: Session, actor: User, act: str, query: JobsQuery, expected_count: int | None) -> tuple[Job, BulkCount]:
    """Add the ops_bulk job and its audit entry (the caller commits and sends)."""
    operator_only(actor, "run bulk actions")
    counted = count_for(session, query.filter, act)
    count = counted.count
    if count.value == 0:
        raise Refusal(409, f"no job matching this filter can be {'reprocessed' if act == 'reprocess' else 'cancelled'}")
    if expected_count is not None and (count.value != expected_count if count.exact else expected_count < count.value):
        raise Refusal(409, f"the filter matches {counted.describe()} jobs now, not the {expected_count:,} confirmed: "
                           "look at the count again", count=count.value, count_exact=count.exact)
    payload = OpsBulkPayload(action=act, filter=query.filter, until=utcnow().isoformat(),
                             expected_count=count.value if count.exact else None)
    job = new_job(session, OPS_BULK, payload, actor.id, origin="request")
    session.flush()
    audit.record(session, actor, f"jobs.bulk_{act}", f"job:{job.id}", count.value, filter=query.filter.summary(),
                 count_exact=count.exact)
    return job, counted
