"""Operations console pages: jobs (issue 11). The list with its filters (a GET form that keeps
its values), a job's page (live while unfinished, through GET /api/ops/jobs/<id>), its
reprocess and cancel buttons, and the bulk actions' confirmation (operators only). JSON twins in
web/api/ops/jobs.py; both read web/common/ops/."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.db import utcnow
from core.jobs.ops_jobs_filter import FILTER_STATES
from core.jobs.outbox import commit_and_send
from core.jobs.types import JOB_TYPES
from core.parsing import InputError, int_param
from web.common.ops.access import is_operator, operator_only
from web.common.ops.job_actions import cancel_job, reprocess_job
from web.common.ops.job_detail import detail_json, job_in_scope
from web.common.ops.job_logs import insights_query, window
from web.common.ops.jobs_bulk import action, count_for, start_bulk
from web.common.ops.jobs_list import page_of_jobs, rows_json
from web.common.ops.jobs_params import from_query_string
from web.common.ops.live_lists import first_page_poll
from web.common.pagination import PageRequest
from web.common.refusal import Refusal, found
from web.pages.blueprint import bp, console_page

NO_SUCH_JOB = "No such job in the console's view."


def _job(job_id: str):
    return found(job_in_scope(session(), g.user, job_id), NO_SUCH_JOB)


@bp.get("/ops/jobs")
@console_page
def ops_jobs():
    db = session()
    req = PageRequest.from_args(request.args)
    problem, page, query, status = None, None, None, 200
    try:
        query = from_query_string(db, g.user, request.args)
        page = page_of_jobs(db, g.user, query, req)
    except InputError as exc:
        problem, status = exc.message, 400
    except Refusal as exc:
        if exc.status != 422:
            raise
        problem, status = exc.message, 422
    given = dict(request.args.lists()) if query is None else query.given
    args = {} if query is None else query.link_args()
    return render_template(
        "ops/jobs.html", title="Jobs", here="jobs", page=page, rows=rows_json(db, g.user, page.items) if page else [],
        problem=problem, given=given, args=args, newest_first=query.newest_first if query else True,
        states=FILTER_STATES, types=sorted(JOB_TYPES), operator=is_operator(g.user),
        summary=query.filter.summary() if query else {},
        poll_url=first_page_poll("ops.list_jobs", args, page, request.args),
    ), status


@bp.get("/ops/jobs/bulk")
@console_page
def ops_jobs_bulk_confirm():
    db, viewer = session(), operator_only(g.user, "run bulk actions")
    act = action(request.args.get("action"))
    query = from_query_string(db, viewer, request.args)
    counted = count_for(db, query.filter, act)
    return render_template("ops/_job_bulk_confirm.html", title="Confirm a bulk action", here="jobs", action=act,
                           counted=counted, query=query, summary=query.filter.summary(), args=query.link_args())


@bp.post("/ops/jobs/bulk")
@console_page
def ops_jobs_bulk():
    db, viewer = session(), operator_only(g.user, "run bulk actions")
    act = action(request.form.get("action"))
    expected = int_param(request.form.get("expected_count"), "expected_count", 0, 10_000_000)
    query = from_query_string(db, viewer, request.form)
    job, _counted = start_bulk(db, viewer, act, query, expected)
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.ops_job", job_id=job.id), code=303)


@bp.get("/ops/jobs/<job_id>")
@console_page
def ops_job(job_id: str):
    db = session()
    job = _job(job_id)
    data = detail_json(db, g.user, job)
    start, end = window(job, utcnow())
    return render_template("ops/job.html", title=f"{data['type_label']} {job.id}", here="jobs", job=job, data=data,
                           logs_configured=bool(services().settings.cloudwatch_log_group),
                           insights_query=insights_query(str(job.id)), log_window=(start, end),
                           operator=is_operator(g.user))


@bp.post("/ops/jobs/<job_id>/reprocess")
@console_page
def ops_job_reprocess(job_id: str):
    db = session()
    copy = reprocess_job(db, g.user, _job(job_id))
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.ops_job", job_id=copy.id), code=303)


@bp.post("/ops/jobs/<job_id>/cancel")
@console_page
def ops_job_cancel(job_id: str):
    db = session()
    job = _job(job_id)
    cancel_job(db, g.user, job)
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.ops_job", job_id=job.id), code=303)
