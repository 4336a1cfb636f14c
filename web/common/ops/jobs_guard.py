"""A time bound on the console's reads of the jobs table (issue 11: p99 <= 200 ms at 10^6 rows).

Every filter of the jobs list starts from an index, but two of them (error text, payload fields)
have none of their own: combined with nothing narrower they could read every row before finding
a page. Rather than refusing them outright (an operator searching the last hour's failures for
"Throttling" is exactly what they are for), the statements run under a local statement_timeout
on PostgreSQL; a walk that would take longer is cancelled by the database and answered 422
"narrow your filter", naming the filter that cannot use an index. SQLite (local development
only) has no such timeout and answers however long it takes.

The timeout (and jit = off) is set with set_config(..., true) inside a SAVEPOINT: rolling the savepoint back,
whether the read finished or was cancelled, restores the previous setting and leaves the
request's transaction usable.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.ops_jobs_filter import JobFilter
from web.common.refusal import Refusal

#: Per statement: a page is two (a capped count and the page itself).
TIMEOUT_MS = 150
QUERY_CANCELED = "57014"


def unindexed_filter(job_filter: JobFilter) -> str | None:
    """The filter to narrow first when a read takes too long (the ones without an index)."""
    if job_filter.error is not None:
        return "error"
    if job_filter.payload:
        return "payload"
    return None


@contextmanager
def bounded(session: Session, job_filter: JobFilter, timeout_ms: int = TIMEOUT_MS) -> Iterator[None]:
    """Run the reads inside within `timeout_ms` each; Refusal(422) when one is cancelled."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    savepoint = session.begin_nested()
    # JIT off too: a filtered walk's estimates can be huge (a million rows per owner), and compiling
    # its plan then costs ~150 ms where running it costs 4 (an admin's list of a small school).
    session.execute(sa.select(sa.func.set_config("statement_timeout", str(int(timeout_ms)), True),
                              sa.func.set_config("jit", "off", True)))
    try:
        yield
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != QUERY_CANCELED:
            raise
        savepoint.rollback()
        field = unindexed_filter(job_filter) or "filter"
        raise Refusal(422, f"this filter reads too many jobs to answer in time: narrow your filter (add a state, "
                           f"a type, an owner or a time range to the {field} filter)", field=field) from None
    else:
        savepoint.rollback()  # nothing was written; this restores the timeout
