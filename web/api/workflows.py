from __future__ import annotations

import uuid

from flask import Blueprint

from core.app import json_error, session
from core.jobs.workflows import workflow_json
from core.models import User, Workflow
from web.api.guard import current_user, login_required
from web.api.polling import polled

bp = Blueprint("workflows", __name__)


def visible_workflow(workflow_id: str) -> Workflow | None:
    """The owner, or an admin of the owner's institution, may see a workflow."""
    try:
        key = uuid.UUID(workflow_id)
    except ValueError:
        return None
    workflow = session().get(Workflow, key)
    if workflow is None:
        return None
    user = current_user()
    if workflow.owner_id == user.id:
        return workflow
    owner = session().get(User, workflow.owner_id) if workflow.owner_id else None
    if user.role == "admin" and owner is not None and owner.institution_id == user.institution_id:
        return workflow
    return None


@bp.get("/workflows/<workflow_id>")
@login_required
def show_workflow(workflow_id: str):
    workflow = visible_workflow(workflow_id)
    if workflow is None:
        return json_error(404, f"workflow {workflow_id} not found")
    finished = workflow.state not in ("running", "compensating")
    return polled({"workflow": workflow_json(session(), workflow)}, finished)
