"""My jobs (every role): the list of what I asked for, one job's live progress, and cancelling
it. JSON twins: GET /api/jobs (web/api/my_jobs.py) and /api/jobs/<id> (web/api/jobs.py)."""
from __future__ import annotations


import sqlalchemy as sa
from flask import g, redirect, render_template, request, url_for

from core.access import own_job, own_jobs
from core.app import services, session
from core.db import utcnow
from core.jobs.lifecycle import request_cancel
from core.jobs.outbox import flush
from core.models import Job, SchoolClass
from core.models.jobs import JOB_STATES
from core.pagination import PageParamError, PageRequest, paginate
from web.api.jobs import job_json
from web.pages.blueprint import bp
from web.sessions import page_login_required

TYPE_LABELS = {"report": "Report", "activity_fanout": "Activity notifications", "activity_summary": "Activity summary",
               "email": "Email"}
KIND_LABELS = {"class_roster": "roster", "class_grades": "grades"}


def describe(job: Job, class_names: dict[int, str] | None = None) -> str:
    """A human name for a job, e.g. "Report: grades (XLSX) of MAT-101"."""
    label = TYPE_LABELS.get(job.type, job.type.replace("_", " ").capitalize())
    payload = job.payload or {}
    if job.type == "report":
        kind = KIND_LABELS.get(payload.get("kind"), payload.get("kind", "?"))
        text = f"{label}: {kind} ({str(payload.get('format', '')).upper()})"
        name = (class_names or {}).get(payload.get("class_id"))
        return f"{text} of {name}" if name else text
    if job.type == "activity_fanout":
        return f"{label} (activity #{payload.get('activity_id')})"
    return label


def _class_names(jobs: list[Job]) -> dict[int, str]:
    ids = {j.payload.get("class_id") for j in jobs if isinstance((j.payload or {}).get("class_id"), int)}
    if not ids:
        return {}
    rows = session().execute(sa.select(SchoolClass.id, SchoolClass.code).where(
        SchoolClass.id.in_(ids), SchoolClass.institution_id == g.user.institution_id))
    return {row.id: row.code for row in rows}


@bp.get("/jobs")
@page_login_required("teacher", "admin", "student")
def my_jobs():
    state = request.args.get("state") or None
    try:
        req = PageRequest.from_args(request.args)
        if state is not None and state not in JOB_STATES:
            raise PageParamError("state", f"state must be one of {', '.join(JOB_STATES)}")
    except PageParamError as exc:
        return render_template("error.html", status=400, message=str(exc)), 400
    page = paginate(session(), own_jobs(g.user, state), req)
    names = _class_names(page.items)
    return render_template("jobs/list.html", title="My jobs", page=page, state=state, states=JOB_STATES,
                           rows=[(job, describe(job, names)) for job in page.items])


@bp.get("/jobs/<job_id>")
@page_login_required("teacher", "admin", "student")
def job_page(job_id: str):
    job = own_job(session(), g.user, job_id)
    if job is None:
        return render_template("error.html", status=404, message="No such job among yours."), 404
    return render_template("jobs/job.html", title=describe(job), job=job, data=job_json(job),
                           label=describe(job, _class_names([job])))


@bp.post("/jobs/<job_id>/cancel")
@page_login_required("teacher", "admin", "student")
def cancel_job_page(job_id: str):
    job = own_job(session(), g.user, job_id)
    if job is None:
        return render_template("error.html", status=404, message="No such job among yours."), 404
    db = session()
    request_cancel(db, job.id, utcnow())
    db.commit()
    flush(db, services().queue)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)
