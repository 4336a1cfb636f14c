"""/api/ops/: the console's jobs (issue 11). The list with its filters
(web/common/ops/jobs_params.py), one job with its attempts and lineage, its log lines, the
actions on one job (admins too, within their institution), and bulk actions over a filter
(operators only), which run as an `ops_bulk` job."""
from __future__ import annotations

from flask import jsonify, request

from core.app import services, session
from core.jobs.outbox import commit_and_send
from core.models.jobs import TERMINAL_STATES
from core.parsing import InputError, json_int, known_fields
from web.api.guard import current_user, json_body
from web.api.ops.blueprint import bp, console_required
from web.api.polling import polled
from web.common.ops.access import operator_only
from web.common.ops.job_actions import cancel_job, reprocess_job
from web.common.ops.job_detail import detail_json, job_in_scope
from web.common.ops.job_logs import job_logs, logs_json
from web.common.ops.jobs_bulk import action, count_for, start_bulk
from web.common.ops.jobs_list import page_of_jobs, row_json, rows_json
from web.common.ops.jobs_params import from_json, from_query_string
from web.common.pagination import PageRequest
from web.common.refusal import found

NO_SUCH_JOB = "No such job in the console's view."


def _job(job_id: str):
    return found(job_in_scope(session(), current_user(), job_id), NO_SUCH_JOB)


@bp.get("/ops/jobs")
@console_required
def list_jobs():
    db, viewer = session(), current_user()
    req = PageRequest.from_args(request.args)
    query = from_query_string(db, viewer, request.args)
    page = page_of_jobs(db, viewer, query, req)
    # Polled by the console's list (its first page): ETag and Retry-After like every polled resource.
    return polled({"items": rows_json(db, viewer, page.items), "filter": query.filter.summary(),
                   "sort": "newest" if query.newest_first else "oldest", **page.meta()}, finished=False)


@bp.get("/ops/jobs/<job_id>")
@console_required
def show_job(job_id: str):
    job = _job(job_id)
    body = detail_json(session(), current_user(), job)
    return polled(body, job.state in TERMINAL_STATES)


@bp.get("/ops/jobs/<job_id>/logs")
@console_required
def show_job_logs(job_id: str):
    job = _job(job_id)
    return jsonify(logs_json(job_logs(services().settings, job, personal=current_user().role == "operator")))


@bp.post("/ops/jobs/<job_id>/reprocess")
@console_required
def reprocess(job_id: str):
    db = session()
    copy = reprocess_job(db, current_user(), _job(job_id))
    commit_and_send(db, services().queue)
    response = jsonify({"job": row_json(copy, None), "reprocess_of": job_id})
    response.status_code = 202
    response.headers["Location"] = f"/api/ops/jobs/{copy.id}"
    return response


@bp.post("/ops/jobs/<job_id>/cancel")
@console_required
def cancel(job_id: str):
    db = session()
    done = cancel_job(db, current_user(), _job(job_id))
    commit_and_send(db, services().queue)
    db.refresh(done.job)
    response = jsonify({"job": row_json(done.job, None), "outcome": done.outcome})
    response.status_code = 200 if done.outcome == "cancelled" else 202
    return response


@bp.get("/ops/bulk/count")
@console_required
def bulk_count():
    db, viewer = session(), operator_only(current_user(), "run bulk actions")
    act = action(request.args.get("action"))
    counted = count_for(db, from_query_string(db, viewer, request.args).filter, act)
    return jsonify({"action": act, "count": counted.count.value, "count_exact": counted.count.exact,
                    "describe": counted.describe()})


@bp.post("/ops/bulk")
@console_required
def bulk():
    db, viewer = session(), operator_only(current_user(), "run bulk actions")
    body = json_body()
    if body is None:
        raise InputError("body", "send a JSON object with action, filter and expected_count")
    known_fields(body, ("action", "filter", "expected_count"))
    act = action(body.get("action"))
    expected = body.get("expected_count")
    expected = None if expected is None else json_int(expected, "expected_count", 0, 10_000_000)
    query = from_json(db, viewer, body.get("filter", {}))
    job, counted = start_bulk(db, viewer, act, query, expected)
    commit_and_send(db, services().queue)
    response = jsonify({"job": row_json(job, None), "action": act, "count": counted.count.value,
                        "count_exact": counted.count.exact})
    response.status_code = 202
    response.headers["Location"] = f"/api/ops/jobs/{job.id}"
    return response
