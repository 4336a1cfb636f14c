"""My jobs (every role): the list of what I asked for, one job's live progress, and cancelling
it. JSON twins: GET /api/jobs (web/api/my_jobs.py) and /api/jobs/<id> (web/api/jobs.py)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.jobs.outbox import commit_and_send
from core.jobs.types import ACTIVITY_FANOUT, JOB_TYPES, REPORT
from core.models import Job, SchoolClass
from core.models.jobs import JOB_STATES
from web.common.access import own_job, own_jobs
from web.common.jobs import cancel_job
from web.common.lists import OWN_JOBS
from web.common.pagination import PageRequest, job_state, paginate
from web.common.refusal import found
from web.common.serializers import job_json
from web.pages.blueprint import bp
from web.sessions import page_login_required

KIND_LABELS = {"class_roster": "roster", "class_grades": "grades"}
EVERY_ROLE = ("teacher", "admin", "student")


def type_label(job_type: str) -> str:
    """The declared label of a job type (core/jobs/types.py), or one made from an unknown name."""
    declared = JOB_TYPES.get(job_type)
    return declared.label if declared else job_type.replace("_", " ").capitalize()


def describe(job: Job, class_names: dict[int, str] | None = None) -> str:
    """A human name for a job, e.g. "Report: grades (XLSX) of MAT-101"."""
    label = type_label(job.type)
    payload = job.payload or {}
    if job.type == REPORT.name:
        kind = KIND_LABELS.get(payload.get("kind"), payload.get("kind", "?"))
        text = f"{label}: {kind} ({str(payload.get('format', '')).upper()})"
        name = (class_names or {}).get(payload.get("class_id"))
        return f"{text} of {name}" if name else text
    if job.type == ACTIVITY_FANOUT.name:
        return f"{label} (activity #{payload.get('activity_id')})"
    return label


def _class_names(jobs: list[Job]) -> dict[int, str]:
    ids = {j.payload.get("class_id") for j in jobs if isinstance((j.payload or {}).get("class_id"), int)}
    if not ids:
        return {}
    rows = session().execute(sa.select(SchoolClass.id, SchoolClass.code).where(
        SchoolClass.id.in_(ids), SchoolClass.institution_id == g.user.institution_id))
    return {row.id: row.code for row in rows}


def _own_job(job_id: str) -> Job:
    return found(own_job(session(), g.user, job_id), "No such job among yours.")


@bp.get("/jobs")
@page_login_required(*EVERY_ROLE)
def my_jobs():
    # The filter form sends state="" for every state.
    req, state = PageRequest.from_args(request.args), job_state(request.args.get("state") or None)
    page = paginate(session(), own_jobs(g.user, state), req, keyset=OWN_JOBS)
    names = _class_names(page.items)
    return render_template("jobs/list.html", title="My jobs", page=page, state=state, states=JOB_STATES,
                           rows=[(job, describe(job, names)) for job in page.items])


@bp.get("/jobs/<job_id>")
@page_login_required(*EVERY_ROLE)
def job_page(job_id: str):
    job = _own_job(job_id)
    return render_template("jobs/job.html", title=describe(job), job=job, data=job_json(job),
                           label=describe(job, _class_names([job])))


@bp.post("/jobs/<job_id>/cancel")
@page_login_required(*EVERY_ROLE)
def cancel_job_page(job_id: str):
    db = session()
    job = _own_job(job_id)
    cancel_job(db, job)
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.job_page", job_id=job.id), code=303)
