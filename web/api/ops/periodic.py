"""/api/ops/periodic: the cron.yaml tasks with schedule, next run, latest runs and lease, and the
operators' "run now" (a coalescing `periodic_run` job through the task's lease; audited)."""
from __future__ import annotations

from flask import Response, jsonify

from core.app import services, session
from core.db import utcnow
from web.api.guard import current_user
from web.api.ops.blueprint import bp, console_required
from web.api.polling import polled
from web.common.ops import periodic
from web.common.ops.access import operator_only


@bp.get("/ops/periodic")
@console_required
def ops_periodic_tasks() -> Response:
    body = periodic.tasks_json(session(), current_user(), utcnow())
    session().rollback()
    return polled(body, finished=False)


@bp.get("/ops/periodic/<task>")
@console_required
def ops_periodic_task(task: str) -> Response:
    body = periodic.one_task(session(), current_user(), task, utcnow())
    session().rollback()
    return polled(body, finished=False)


@bp.post("/ops/periodic/<task>/run")
@console_required
def ops_run_periodic_task(task: str):
    user = operator_only(current_user(), "run a periodic task now")
    job, created = periodic.run_now(session(), services(), user, task)
    body = {"job": {"id": str(job.id), "state": job.state, "type": job.type, "url": f"/ops/jobs/{job.id}"},
            "task": task, "created": created}
    return jsonify(body), 202
