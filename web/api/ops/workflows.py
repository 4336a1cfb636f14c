"""/api/ops/workflows: the workflows an operator (all) or an admin (their institution's) may see,
newest first by cursor, and one workflow with its steps, timings and compensations (polled while
it runs)."""
from __future__ import annotations

from flask import jsonify, request

from core.app import session
from web.api.guard import current_user
from web.api.ops.blueprint import bp, console_required
from web.api.polling import polled
from web.common.ops.workflows import (
    WORKFLOW_LIST,
    is_finished,
    visible_workflow,
    workflow_detail,
    workflow_filters,
    workflow_page_items,
    workflows,
)
from web.common.pagination import PageRequest, paginate
from web.common.refusal import found


@bp.get("/ops/workflows")
@console_required
def workflows_list():
    user, req, filters = current_user(), PageRequest.from_args(request.args), workflow_filters(request.args)
    page = paginate(session(), workflows(user, **filters), req, keyset=WORKFLOW_LIST)
    return jsonify({"items": workflow_page_items(session(), page, user), **filters, **page.meta()})


@bp.get("/ops/workflows/<workflow_id>")
@console_required
def workflows_show(workflow_id: str):
    user = current_user()
    workflow = found(visible_workflow(session(), user, workflow_id), f"workflow {workflow_id} not found")
    return polled({"workflow": workflow_detail(session(), workflow, user)}, finished=is_finished(workflow))
