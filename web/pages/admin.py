"""Admin pages: start the seed workflow for a new institution and follow its steps live.
JSON equivalents: POST /api/admin/seeds, GET /api/admin/workflows, GET /api/workflows/<id>."""
from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.jobs.outbox import commit_and_send
from core.models.orchestration import UNFINISHED_WORKFLOW_STATES
from core.parsing import ascii_int
from web.common.access import visible_workflow
from web.common.institution_seed import MIN_PASSWORD, SeedRequestError, institution_workflows, start_institution_seed
from web.common.pagination import PageRequest, paginate
from web.common.refusal import found
from web.common.serializers import workflow_json
from web.pages.blueprint import bp
from web.sessions import page_login_required

FORM_FIELDS = ("name", "slug", "students")


def _render_home(form: dict[str, str], errors: dict[str, str], message: str | None, status: int = 200):
    page = paginate(session(), institution_workflows(g.user), PageRequest.from_args(request.args))
    return render_template("admin/home.html", title="Institution", form=form, errors=errors, message=message,
                           page=page, min_password=MIN_PASSWORD), status


@bp.get("/admin")
@page_login_required("admin")
def admin_home():
    return _render_home({"name": "", "slug": "", "students": ""}, {}, None)


@bp.post("/admin/seeds")
@page_login_required("admin")
def admin_start_seed():
    form = {name: request.form.get(name, "").strip() for name in FORM_FIELDS}
    raw: dict[str, Any] = {"name": form["name"], "slug": form["slug"]}
    if form["students"]:
        students = ascii_int(form["students"])  # "²".isdigit() is true, and int("²") a ValueError
        if students is None:
            return _render_home(form, {"students": "students: must be a whole number"},
                                "Check the highlighted field.", 400)
        raw["students"] = students
    db = session()
    try:
        workflow = start_institution_seed(db, g.user, raw, request.form.get("initial_password", ""),
                                          services().settings.max_jobs_in_flight)
    except SeedRequestError as exc:
        db.rollback()  # let go of the user's request lock (web/common/submit.lock_owner)
        errors = {exc.field: exc.message} if exc.field else {}
        shown = exc.status == 400 and exc.field in (*FORM_FIELDS, "initial_password")
        message = "Check the highlighted field." if shown else exc.message
        page, status = _render_home(form, errors, message, exc.status)
        return page, status, ({"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {})
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.admin_workflow", workflow_id=str(workflow.id)), code=303)


@bp.get("/admin/workflows/<workflow_id>")
@page_login_required()
def admin_workflow(workflow_id: str):
    workflow = found(visible_workflow(session(), g.user, workflow_id), "That workflow does not exist.")
    view = workflow_json(session(), workflow)
    return render_template("admin/workflow.html", title=view["title"], workflow=view,
                           finished=workflow.state not in UNFINISHED_WORKFLOW_STATES)
