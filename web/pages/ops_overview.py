"""Operations console pages: the overview (/ops/), its live part (re-fetched by
web/static/ops_overview.js when GET /api/ops/overview says something changed), and the pause
and resume forms. JSON equivalents: GET /api/ops/overview, PUT and DELETE /api/ops/pauses/<type>."""
from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.db import utcnow
from core.jobs import stats
from core.jobs.types import JOB_TYPES
from core.models.jobs import JOB_STATES
from core.models.orchestration import WORKFLOW_STATES
from web.common.ops import pauses
from web.common.ops.access import is_operator
from web.common.ops.charts import chart, numbers
from web.common.ops.overview import overview
from web.common.refusal import Refusal
from web.pages.blueprint import bp, console_page

NOTICES = {"paused": "Paused {type}: its deliveries are acknowledged and its jobs stay queued.",
           "reason": "Changed the reason {type} is paused.",
           "resumed": "Resumed {type}: its queued jobs are being sent again, oldest first."}
JOB_COLUMNS = (*JOB_STATES, "dead_lettered", "paused")


def _charts(series: dict[str, Any]) -> list[dict[str, Any]]:
    """Per window: the overall chart and one per type (small multiples), with their tallies."""
    windows = []
    for window, title in (("hour", "last hour, per minute"), ("day", "last day, per hour")):
        s = series[window]
        overall = s.overall()
        windows.append({
            "window": window, "title": title, "step": s.step,
            "overall": chart(f"chart-{window}-all", f"All job types, {title}", overall, s.step),
            "numbers": numbers(overall),
            "types": [(name, chart(f"chart-{window}-{name}", f"{_label(name)}, {title}", tallies, s.step))
                      for name, tallies in s.by_type.items()],
        })
    return windows


def _label(name: str) -> str:
    declared = JOB_TYPES.get(name)
    return f"{declared.label} ({name})" if declared else name


def _context() -> dict[str, Any]:
    now = utcnow()
    series = stats.last_hour_and_day(session(), now) if is_operator(g.user) else None
    view = overview(session(), services(), g.user, now, series)
    return {"view": view, "charts": _charts(series) if series else None, "job_columns": JOB_COLUMNS,
            "workflow_states": WORKFLOW_STATES, "types": sorted(JOB_TYPES), "label": _label,
            "operator": is_operator(g.user)}


def _render(status: int = 200, error: str | None = None, form: dict[str, str] | None = None):
    notice = None
    kind, job_type = request.args.get("done", ""), request.args.get("type", "")
    if kind in NOTICES and job_type in JOB_TYPES:
        notice = NOTICES[kind].format(type=job_type)
    return render_template("ops/overview.html", title="Operations", here="overview", notice=notice, error=error,
                           form=form or {"type": "", "reason": ""}, **_context()), status


@bp.get("/ops/")
@console_page
def ops_overview():
    return _render()


@bp.get("/ops/overview/live")
@console_page
def ops_overview_live():
    return render_template("ops/_overview_live.html", **_context())


@bp.post("/ops/pauses")
@console_page
def ops_pause():
    form = {"type": request.form.get("type", ""), "reason": request.form.get("reason", "")}
    try:
        _entry, created = pauses.pause(session(), g.user, form["type"], form["reason"])
    except Refusal as exc:
        session().rollback()
        return _render(exc.status, exc.message, form)
    return redirect(url_for("pages.ops_overview", done="paused" if created else "reason", type=form["type"]), code=303)


@bp.post("/ops/pauses/<job_type>/resume")
@console_page
def ops_resume(job_type: str):
    try:
        pauses.resume(session(), g.user, job_type, services().queue)
    except Refusal as exc:
        session().rollback()
        return _render(exc.status, exc.message)
    return redirect(url_for("pages.ops_overview", done="resumed", type=job_type), code=303)
