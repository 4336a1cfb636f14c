"""/api/ops/workflows: the workflows an operator (all) or an admin (their institution's) may see,
newest first by cursor (polled by the console's list: ETag, Retry-After), and one workflow with
its steps, timings and compensations (polled while it runs)."""
from __future__ import annotations

from flask import request

from core.app import session
from web.api.guard import current_user
from web.api.ops.blueprint import bp, console_required
from web.api.polling import polled
from web.common.ops.workflows import is_finished, visible_workflow, workflow_detail, workflows_listed
from web.common.refusal import found


@bp.get("/ops/workflows")
@console_required
def workflows_list():
    filters, page, rows = workflows_listed(session(), current_user(), request.args)
    return polled({"items": rows, **filters, **page.meta()}, finished=False)


@bp.get("/ops/workflows/<workflow_id>")
@console_required
def workflows_show(workflow_id: str):
    user = current_user()
    workflow = found(visible_workflow(session(), user, workflow_id), f"workflow {workflow_id} not found")
    return polled({"workflow": workflow_detail(session(), workflow, user)}, finished=is_finished(workflow))
