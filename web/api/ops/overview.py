"""/api/ops/: the overview (polled: ETag and Retry-After, web/api/polling.py) and pausing and
resuming job types (operators only, audited)."""
from __future__ import annotations

from flask import Response, jsonify

from core.app import services, session
from core.db import utcnow
from web.api.guard import current_user, json_body
from web.api.ops.blueprint import bp, console_required
from web.api.polling import polled
from web.common.ops import pauses
from web.common.ops.overview import overview
from web.common.refusal import Refusal


@bp.get("/ops/overview")
@console_required
def ops_overview() -> Response:
    body = overview(session(), services(), current_user(), utcnow())
    session().rollback()  # reads only: end the snapshot before answering
    return polled(body, finished=False)


@bp.get("/ops/pauses")
@console_required
def ops_list_pauses() -> Response:
    return jsonify({"pauses": pauses.pauses_json(session(), current_user())})


@bp.put("/ops/pauses/<job_type>")
@console_required
def ops_pause_type(job_type: str):
    body = json_body()
    if body is None:
        pauses.operator_only(current_user(), "pause a job type")
        raise Refusal(400, "the body must be a JSON object with a reason", field="reason")
    entry, created = pauses.pause(session(), current_user(), job_type, body.get("reason"))
    return jsonify({"pause": pauses.described(session(), entry, current_user()), "created": created}), \
        201 if created else 200


@bp.delete("/ops/pauses/<job_type>")
@console_required
def ops_resume_type(job_type: str):
    handed_over = pauses.resume(session(), current_user(), job_type, services().queue)
    return jsonify({"resumed": job_type, "sent_now": handed_over})
