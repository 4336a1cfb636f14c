"""Institution staff: start the seed workflow for a new institution and follow it."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from core.app import json_error, services, session
from core.jobs.outbox import commit_and_send
from core.models import User
from web.api.guard import current_user, json_body, login_required
from web.api.polling import polled
from web.common.institution_seed import SeedRequestError, institution_workflows
from web.common.institution_seed import start_institution_seed as start_seed_for
from web.common.pagination import PageRequest, paginate
from web.common.refusal import Refusal
from web.common.serializers import workflow_json, workflow_summary

bp = Blueprint("admin", __name__)


def _admin(to_do: str) -> User:
    """The caller, who must be institution staff (an admin) to do this; 403 otherwise."""
    user = current_user()
    if user.role != "admin":
        raise Refusal(403, f"only institution staff (admins) can {to_do}")
    return user


@bp.post("/admin/seeds")
@login_required
def start_institution_seed():
    user = _admin("seed an institution")
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with name, slug, initial_password and optional sizes")
    password = body.pop("initial_password", None)
    db = session()
    try:
        workflow = start_seed_for(db, user, body, password, services().settings.max_jobs_in_flight)
    except SeedRequestError as exc:
        db.rollback()  # let go of the user's request lock (web/common/submit.lock_owner)
        extra = {"field": exc.field} if exc.field else {"limit": exc.limit}
        response, status = json_error(exc.status, exc.message, **extra)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    commit_and_send(db, services().queue)
    response = polled({"workflow": workflow_json(db, workflow)}, finished=False)
    response.status_code = 202
    response.headers["Location"] = f"/api/workflows/{workflow.id}"
    return response


@bp.get("/admin/workflows")
@login_required
def list_institution_workflows():
    """Admins: the workflows started by users of their institution, newest first, paginated."""
    user = _admin("list the institution's workflows")
    page = paginate(session(), institution_workflows(user), PageRequest.from_args(request.args))
    return jsonify({"items": [workflow_summary(w) for w in page.items], **page.meta()})
