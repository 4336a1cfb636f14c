from __future__ import annotations

from flask import Blueprint

from core.app import session
from core.models.orchestration import UNFINISHED_WORKFLOW_STATES
from web.api.guard import current_user, login_required
from web.api.polling import polled
from web.common.access import visible_workflow
from web.common.refusal import found
from web.common.serializers import workflow_json

bp = Blueprint("workflows", __name__)


@bp.get("/workflows/<workflow_id>")
@login_required
def show_workflow(workflow_id: str):
    workflow = found(visible_workflow(session(), current_user(), workflow_id), f"workflow {workflow_id} not found")
    finished = workflow.state not in UNFINISHED_WORKFLOW_STATES
    return polled({"workflow": workflow_json(session(), workflow)}, finished)
