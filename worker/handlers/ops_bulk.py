"""The `ops_bulk` job (core/jobs/types.py OPS_BULK): an operator's bulk reprocess or cancel of
every job matching a console filter, created by POST /api/ops/bulk (web/common/ops/jobs_bulk.py).

It may touch 100,000 rows, so it never holds them: it walks the matching rows oldest first by
keyset on (created_at, id) in chunks of CHUNK, and after each chunk one checkpoint commits the
chunk's changes together with the cursor, the counts and the progress (ctx.checkpoint). So:

- a crash, a time limit or a redelivery goes on after the last committed chunk (the cursor is
  read back from the job's own result), and never redoes one; even a chunk whose commit is in
  doubt is safe, because a reprocess copy has this job as its parent and a target that already
  has one is skipped (one copy per target, however often the chunk runs), and cancelling is a
  conditional UPDATE that does nothing to a finished job;
- the operator's cancel of this job (the single-job cancel) is seen at the next checkpoint,
  between chunks, and stops it there with every finished chunk kept;
- a short pause between chunks leaves the database and the queue to the rest of the traffic.

Only jobs created before the action was asked for (`until`) are touched: the copies it makes,
and whatever is enqueued meanwhile, are not part of it, so a copy that fails at once is not
reprocessed again by the walk that created it. The job never acts on itself.
"""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from core.db import utcnow
from core.jobs import lifecycle, outbox
from core.jobs.ops_jobs_actions import BULK_ACTS_ON, copied_by, copy_row
from core.jobs.types import OPS_BULK, OpsBulkPayload
from core.models import Job
from core.parsing import InputError
from worker.context import JobContext
from worker.handlers import handles

CHUNK = 500
PAUSE_SECONDS = 0.2


def _targets(ctx: JobContext, payload: OpsBulkPayload) -> list[sa.ColumnElement[bool]]:
    dialect = ctx.session.get_bind().dialect.name
    until = datetime.fromisoformat(payload.until).astimezone(UTC)
    return [*payload.filter.conditions(dialect), Job.created_at < until, Job.id != ctx.job.id,
            Job.state.in_(BULK_ACTS_ON[payload.action])]


def _after(cursor: list[str] | None) -> list[sa.ColumnElement[bool]]:
    if cursor is None:
        return []
    at, job_id = datetime.fromisoformat(cursor[0]), uuid.UUID(cursor[1])
    # The first bound on its own too, so the index scan starts at the cursor.
    return [Job.created_at >= at, sa.or_(Job.created_at > at, sa.and_(Job.created_at == at, Job.id > job_id))]


def _reprocess(ctx: JobContext, rows: list[Any], progress: dict[str, Any]) -> None:
    done = copied_by(ctx.session, (row.id for row in rows), ctx.job.id)
    copies = []
    for row in rows:
        if row.id in done:
            progress["already"] += 1
            continue
        try:
            copies.append(copy_row(row, ctx.job.id))
        except (InputError, ValueError):  # its payload or type is no longer valid: nothing to copy
            progress["invalid"] += 1
    outbox.new_jobs(ctx.session, copies)
    progress["changed"] += len(copies)


def _cancel(ctx: JobContext, rows: list[Any], progress: dict[str, Any]) -> None:
    now = utcnow()
    for row in rows:
        outcome = lifecycle.request_cancel(ctx.session, row.id, now)
        progress["changed" if outcome in ("cancelled", "cancelling") else "already"] += 1


@handles(OPS_BULK)
def bulk_action(ctx: JobContext, payload: OpsBulkPayload) -> dict[str, Any]:
    session = ctx.session
    targets = _targets(ctx, payload)
    saved = session.scalar(sa.select(Job.result).where(Job.id == ctx.job.id))
    progress: dict[str, Any] = dict(saved) if saved and "cursor" in saved else {}
    if not progress:
        # Counted once, by the first run (a background job may count; a page may not).
        total = session.scalar(sa.select(sa.func.count()).select_from(Job).where(*targets)) or 0
        progress = {"action": payload.action, "total": total, "done": 0, "changed": 0, "already": 0,
                    "invalid": 0, "cursor": None}
    session.commit()  # ends the read transaction: each chunk is its own
    act = _reprocess if payload.action == "reprocess" else _cancel
    while True:
        rows = session.execute(
            sa.select(Job.id, Job.type, Job.payload, Job.owner_id, Job.created_at)
            .where(*targets, *_after(progress["cursor"]))
            .order_by(Job.created_at, Job.id).limit(CHUNK)
        ).all()
        if not rows:
            break
        act(ctx, rows, progress)
        progress["done"] += len(rows)
        progress["cursor"] = [rows[-1].created_at.isoformat(), rows[-1].id.hex]
        total = max(progress["total"], progress["done"])
        ctx.checkpoint(min(99, progress["done"] * 100 // total), result=progress)
        # Committed: hand this chunk's copies to SQS now rather than when the walk ends.
        outbox.flush(session, ctx.services.queue)
        if len(rows) < CHUNK:
            break
        time.sleep(PAUSE_SECONDS)
    return {**progress, "finished": True}
