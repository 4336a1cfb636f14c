"""Operations console pages: the dead letters (/ops/dead-letters), their live part (re-fetched by
web/static/ops_deadletters.js when GET /api/ops/dead-letters says something changed), and the
redrive and purge forms (operators). JSON equivalents: GET /api/ops/dead-letters, POST
/api/ops/dead-letters/redrive and /purge."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.db import utcnow
from core.models import Job
from core.parsing import ascii_int
from web.common.ops import deadletters, queue_depths
from web.common.ops.access import is_operator, jobs_in_scope, operator_only
from web.common.refusal import Refusal
from web.pages.blueprint import bp, console_page

# Redriven jobs the page follows after a redrive (their ids ride in the redirect's query).
FOLLOWED = 20


def _followed() -> list[uuid.UUID]:
    ids = []
    for raw in request.args.get("jobs", "")[: FOLLOWED * 37].split(","):
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    return ids[:FOLLOWED]


def _followed_jobs(ids: list[uuid.UUID]) -> list[Any]:
    if not ids:
        return []
    rows = session().execute(sa.select(Job.id, Job.type, Job.state, Job.error).where(
        Job.id.in_(ids), jobs_in_scope(g.user)))
    found = {row.id: row for row in rows}
    return [found[i] for i in ids if i in found]


def _context() -> dict[str, Any]:
    now, db = utcnow(), session()
    unavailable = None
    if deadletters.dead_letter_queue(services()) is None:
        view = deadletters.not_configured_view(db, g.user, now)
    else:
        try:
            view = deadletters.view(db, g.user, deadletters.look(services(), db), now)
        except Refusal as exc:  # SQS down: the page still shows the history
            unavailable = exc.message
            view = {**deadletters.not_configured_view(db, g.user, now), "configured": True}
    points = view["samples"]
    return {"view": view, "unavailable": unavailable, "operator": is_operator(g.user),
            "hourly": queue_depths.hourly(points, now),
            "lines": {q: queue_depths.sparkline(points, q, now) for q in ("dead", "main")},
            "followed": _followed_jobs(_followed()), "followed_ids": ",".join(str(i) for i in _followed()),
            "redrive_limit": deadletters.REDRIVE_LIMIT}


def _notice() -> str | None:
    done, count = request.args.get("done", ""), ascii_int(request.args.get("count", "")) or 0
    left = ascii_int(request.args.get("left", "")) or 0
    if done == "redrive":
        more = f" {left} remain in the dead-letter queue." if left else ""
        return f"Moved {count} message{'' if count == 1 else 's'} back to the worker queue.{more}"
    if done == "purge":
        failed = ascii_int(request.args.get("failed", "")) or 0
        return f"Purged {count} message{'' if count == 1 else 's'}; {failed} open job{'' if failed == 1 else 's'} failed."
    return None


def _render(status: int = 200, error: str | None = None):
    return render_template("ops/dead_letters.html", title="Dead letters", here="dead_letters", notice=_notice(),
                           error=error, **_context()), status


@bp.get("/ops/dead-letters")
@console_page
def ops_dead_letters():
    return _render()


@bp.get("/ops/dead-letters/live")
@console_page
def ops_dead_letters_live():
    return render_template("ops/_dead_letters_live.html", **_context())


@bp.post("/ops/dead-letters/redrive")
@console_page
def ops_redrive():
    every = request.form.get("all") == "1"
    try:
        operator_only(g.user, "redrive dead letters")
        job_ids = None if every else deadletters.parse_job_ids(request.form.getlist("job_id"))
        moved = deadletters.redrive(session(), services(), g.user, job_ids)
    except Refusal as exc:
        session().rollback()
        if exc.status == 400:
            exc = Refusal(400, "Choose the jobs to redrive, or redrive all.")
        return _render(exc.status, exc.message)
    shown = ",".join(str(i) for i in (job_ids or [])[:FOLLOWED])
    return redirect(url_for("pages.ops_dead_letters", done="redrive", count=moved["moved"], left=moved["left"],
                            **({"jobs": shown} if shown else {})), code=303)


@bp.post("/ops/dead-letters/purge")
@console_page
def ops_purge():
    expected = ascii_int(request.form.get("expected_count", ""))
    try:
        operator_only(g.user, "purge the dead-letter queue")
        if expected is None or request.form.get("confirm") != "yes":
            raise Refusal(400, "Tick the confirmation naming the number of messages to purge.")
        purged = deadletters.purge(session(), services(), g.user, expected)
    except Refusal as exc:
        session().rollback()
        return _render(exc.status, exc.message)
    return redirect(url_for("pages.ops_dead_letters", done="purge", count=purged["purged"],
                            failed=purged["jobs_failed"]), code=303)
