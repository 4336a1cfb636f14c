"""/api/ops/batches: the batches an operator (all) or an admin (their institution's) may see,
newest first by cursor, and one batch with its counters, follow-up, creator and jobs (polled
while it is open)."""
from __future__ import annotations

from flask import request

from core.app import session
from core.models.jobs import TERMINAL_STATES
from web.api.guard import current_user
from web.api.ops.blueprint import bp, console_required
from web.api.polling import polled
from web.common.ops.batches import batch_detail, batches_listed, visible_batch
from web.common.refusal import found


@bp.get("/ops/batches")
@console_required
def batches_list():
    filters, page, rows = batches_listed(session(), current_user(), request.args)
    return polled({"items": rows, **filters, **page.meta()}, finished=False)


@bp.get("/ops/batches/<batch_id>")
@console_required
def batches_show(batch_id: str):
    user = current_user()
    batch = found(visible_batch(session(), user, batch_id), f"batch {batch_id} not found")
    body, _page = batch_detail(session(), batch, user, request.args)
    # Finished once complete and its follow-up (created by the completion) has ended too.
    followup = body["followup"]
    finished = batch.completed_at is not None and (followup is None or followup["state"] in TERMINAL_STATES)
    return polled({"batch": body}, finished=finished)
