"""Operations console pages: workflows (issue 11). JSON twins: GET /api/ops/workflows and
/api/ops/workflows/<id> (web/api/ops/workflows.py); an unfinished workflow's page follows the
latter live."""
from __future__ import annotations

from flask import g, render_template, request

from core.app import session
from core.jobs.workflows import WORKFLOWS
from core.models.orchestration import WORKFLOW_STATES
from web.common.ops.access import is_operator
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
from web.pages.blueprint import bp, console_page


@bp.get("/ops/workflows")
@console_page
def ops_workflows():
    filters = workflow_filters(request.args, form=True)
    page = paginate(session(), workflows(g.user, **filters), PageRequest.from_args(request.args),
                    keyset=WORKFLOW_LIST)
    return render_template("ops/workflows.html", title="Workflows", here="workflows", page=page, filters=filters,
                           states=WORKFLOW_STATES, names=sorted(WORKFLOWS), operator=is_operator(g.user),
                           rows=workflow_page_items(session(), page, g.user))


@bp.get("/ops/workflows/<workflow_id>")
@console_page
def ops_workflow(workflow_id: str):
    workflow = found(visible_workflow(session(), g.user, workflow_id), "That workflow does not exist.")
    view = workflow_detail(session(), workflow, g.user)
    return render_template("ops/workflow.html", title=view["title"], here="workflows", workflow=view,
                           finished=is_finished(workflow))
