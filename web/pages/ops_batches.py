"""Operations console pages: batches (issue 11). JSON twins: GET /api/ops/batches and
/api/ops/batches/<id> (web/api/ops/batches.py); an open batch's page follows the latter live."""
from __future__ import annotations

from flask import g, render_template, request

from core.app import session
from core.models.jobs import JOB_STATES
from web.common.ops.access import is_operator
from web.common.ops.batches import BATCH_STATES, batch_detail, batches_listed, visible_batch
from web.common.ops.live_lists import first_page_poll
from web.common.refusal import found
from web.pages.blueprint import bp, console_page


@bp.get("/ops/batches")
@console_page
def ops_batches():
    filters, page, rows = batches_listed(session(), g.user, request.args, form=True)
    return render_template("ops/batches.html", title="Batches", here="batches", page=page, filters=filters,
                           states=BATCH_STATES, rows=rows, operator=is_operator(g.user),
                           poll_url=first_page_poll("ops.batches_list", filters, page, request.args))


@bp.get("/ops/batches/<batch_id>")
@console_page
def ops_batch(batch_id: str):
    batch = found(visible_batch(session(), g.user, batch_id), "That batch does not exist.")
    view, page = batch_detail(session(), batch, g.user, request.args, form=True)
    return render_template("ops/batch.html", title=f"Batch {batch.description or batch.id}", here="batches",
                           batch=view, page=page, job_states=JOB_STATES)
