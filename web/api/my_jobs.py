"""`GET /api/jobs?page&size&state`: the jobs the caller asked for (core.access.own_jobs: fan-out
children and workflow steps are shown through their parent or workflow), newest first,
paginated and filtered in SQL."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from core.access import own_jobs
from core.app import json_error, session
from core.models.jobs import JOB_STATES
from core.pagination import PageParamError, PageRequest, paginate
from web.api.guard import current_user, login_required
from web.api.jobs import job_json

bp = Blueprint("my_jobs", __name__)


def state_arg() -> str | None:
    state = request.args.get("state")  # absent: every state; "" is no state (as the document says)
    if state is not None and state not in JOB_STATES:
        raise PageParamError("state", f"state must be one of {', '.join(JOB_STATES)}")
    return state


@bp.get("/jobs")
@login_required
def list_jobs():
    try:
        req, state = PageRequest.from_args(request.args), state_arg()
    except PageParamError as exc:
        return json_error(400, str(exc), field=exc.field)
    page = paginate(session(), own_jobs(current_user(), state), req)
    return jsonify({"items": [job_json(j) for j in page.items], "state": state, **page.meta()})
