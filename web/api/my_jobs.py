"""`GET /api/jobs?page&size&state&after&before`: the jobs the caller asked for
(web.common.access.own_jobs: fan-out children and workflow steps are shown through their parent
or workflow), newest first, paginated and filtered in SQL; `next`/`previous` cursors page by
position (web/common/pagination.py), so a page costs the same with a million jobs."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from core.app import session
from web.api.guard import current_user, login_required
from web.common.access import own_jobs
from web.common.lists import OWN_JOBS
from web.common.pagination import PageRequest, job_state, paginate
from web.common.serializers import job_json

bp = Blueprint("my_jobs", __name__)


@bp.get("/jobs")
@login_required
def list_jobs():
    # Absent: every state; "" is no state (as the document says), a 400.
    req, state = PageRequest.from_args(request.args), job_state(request.args.get("state"))
    page = paginate(session(), own_jobs(current_user(), state), req, keyset=OWN_JOBS)
    return jsonify({"items": [job_json(j) for j in page.items], "state": state, **page.meta()})
