"""Operations console pages: the periodic tasks (/ops/periodic) and the "run now" form
(operators). JSON equivalents: GET /api/ops/periodic, POST /api/ops/periodic/<task>/run."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.db import utcnow
from core.jobs.periodic import PERIODIC_TASKS
from web.common.ops import periodic
from web.common.refusal import Refusal
from web.pages.blueprint import bp, console_page


def _render(status: int = 200, error: str | None = None):
    notice = None
    task, done = request.args.get("task", ""), request.args.get("done", "")
    if task in PERIODIC_TASKS and done in ("queued", "joined"):
        notice = (f"{task} will run shortly, through its lease (skipped if a run holds it)." if done == "queued"
                  else f"A run of {task} was already asked for; it is that one.")
    view = periodic.tasks_json(session(), g.user, utcnow())
    session().rollback()
    return render_template("ops/periodic.html", title="Periodic tasks", here="periodic", view=view, notice=notice,
                           error=error), status


@bp.get("/ops/periodic")
@console_page
def ops_periodic():
    return _render()


@bp.post("/ops/periodic/<task>/run")
@console_page
def ops_periodic_run(task: str):
    try:
        _job, created = periodic.run_now(session(), services(), g.user, task)
    except Refusal as exc:
        session().rollback()
        return _render(exc.status, exc.message)
    return redirect(url_for("pages.ops_periodic", done="queued" if created else "joined", task=task), code=303)
