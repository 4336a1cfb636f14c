"""Institution staff: start the seed workflow for a new institution and follow it."""
from __future__ import annotations

from flask import Blueprint

from core.app import json_error, services, session
from core.auth import hash_password
from core.jobs.outbox import flush
from core.jobs.submit import QuotaExceeded, check_quota
from core.jobs.workflows import workflow_json
from core.models import Institution
from core.seeding import SeedParamsError, open_seed_workflows, seed_params, start_seed
from web.api.guard import current_user, json_body, login_required
from web.api.polling import polled

bp = Blueprint("admin", __name__)
MIN_PASSWORD = 10


@bp.post("/admin/seeds")
@login_required
def start_institution_seed():
    user = current_user()
    if user.role != "admin":
        return json_error(403, "only institution staff (admins) can seed an institution")
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with name, slug, initial_password and optional sizes")
    password = body.pop("initial_password", None)
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        # The seeded accounts need a password nobody else knows; only its hash is kept.
        return json_error(400, f"initial_password is required, at least {MIN_PASSWORD} characters",
                          field="initial_password")
    try:
        params = seed_params(body)
    except SeedParamsError as exc:
        return json_error(400, str(exc), field=exc.field)

    db = session()
    taken = db.query(Institution.id).filter(Institution.slug == params["slug"]).first()
    if taken is not None or open_seed_workflows(db, params["slug"]):
        return json_error(409, f"an institution with the slug {params['slug']!r} exists or is being seeded",
                          field="slug")
    try:
        check_quota(db, user.id, services().settings.max_jobs_in_flight)
    except QuotaExceeded as exc:
        response, status = json_error(429, str(exc), limit=exc.limit)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    workflow = start_seed(db, {**params, "password_hash": hash_password(password)}, owner_id=user.id)
    db.commit()
    flush(db, services().queue)
    response = polled({"workflow": workflow_json(db, workflow)}, finished=False)
    response.status_code = 202
    response.headers["Location"] = f"/api/workflows/{workflow.id}"
    return response
