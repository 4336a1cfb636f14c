"""/api/ops/dead-letters: what the dead-letter queue holds (a bounded, cached peek, grouped by job
type and error), its depth over the last day, and the operators' redrive and purge (audited)."""
from __future__ import annotations

from flask import Response, jsonify

from core.app import json_error, services, session
from core.db import utcnow
from web.api.guard import current_user, json_body
from web.api.ops.blueprint import bp, console_required
from web.api.polling import polled
from web.common.ops import deadletters
from web.common.ops.access import operator_only
from web.common.refusal import Refusal


@bp.get("/ops/dead-letters")
@console_required
def ops_dead_letters() -> Response:
    db, user, now = session(), current_user(), utcnow()
    if deadletters.dead_letter_queue(services()) is None:
        body = deadletters.not_configured_view(db, user, now)
    else:
        body = deadletters.view(db, user, deadletters.look(services(), db), now)
    db.rollback()  # reads only: end the snapshot before answering
    return polled(body, finished=False)


@bp.post("/ops/dead-letters/redrive")
@console_required
def ops_redrive_dead_letters():
    user = operator_only(current_user(), "redrive dead letters")
    body = json_body()
    if body is None:
        raise Refusal(400, "send a JSON object with job_ids (a list) or all: true", field="job_ids")
    every, raw = body.get("all"), body.get("job_ids")
    if every is not None and not isinstance(every, bool):
        raise Refusal(400, "all: must be true or false", field="all")
    if every and raw is not None:
        raise Refusal(400, "send job_ids or all: true, not both", field="job_ids")
    job_ids = None if every else deadletters.parse_job_ids(raw)
    return jsonify(deadletters.redrive(session(), services(), user, job_ids))


@bp.post("/ops/dead-letters/purge")
@console_required
def ops_purge_dead_letters():
    user = operator_only(current_user(), "purge the dead-letter queue")
    body = json_body()
    expected = None if body is None else body.get("expected_count")
    if not isinstance(expected, int) or isinstance(expected, bool) or not 0 <= expected <= 10**9:
        raise Refusal(400, "expected_count: the number of messages you confirm purging (a whole number)",
                      field="expected_count")
    try:
        return jsonify(deadletters.purge(session(), services(), user, expected))
    except Refusal as refused:
        if refused.status != 429:
            raise
        response, status = json_error(429, refused.message)
        response.headers["Retry-After"] = str(refused.extra.get("retry_after", 60))
        return response, status
