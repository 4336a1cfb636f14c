"""Operations console pages: workflows (issue 11). JSON twins: GET /api/ops/workflows and
/api/ops/workflows/<id> (web/api/ops/workflows.py); an unfinished workflow's page follows the
latter live."""
from __future__ import annotations

from flask import g, render_template, request

from core.app import session
from core.jobs.workflows import WORKFLOWS
from core.models.orchestration import WORKFLOW_STATES
from web.common.ops.access import is_operator
from web.common.ops.live_lists import first_page_poll
from web.common.ops.workflows import is_finished, visible_workflow, workflow_detail, workflows_listed
from web.common.refusal import found
from web.pages.blueprint import bp, console_page


@bp.get("/ops/workflows")
@console_page
def ops_workflows():
    filters, page, rows = workflows_listed(session(), g.user, request.args, form=True)
    return render_template("ops/workflows.html", title="Workflows", here="workflows", page=page, filters=filters,
                           states=WORKFLOW_STATES, names=sorted(WORKFLOWS), operator=is_operator(g.user), rows=rows,
                           poll_url=first_page_poll("ops.workflows_list", filters, page, request.args))


@bp.get("/ops/workflows/<workflow_id>")
@console_page
def ops_workflow(workflow_id: str):
    workflow = found(visible_workflow(session(), g.user, workflow_id), "That workflow does not exist.")
    view = workflow_detail(session(), workflow, g.user)
    return render_template("ops/workflow.html", title=view["title"], here="workflows", workflow=view,
                           finished=is_finished(workflow))
