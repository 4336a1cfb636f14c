"""Pages: roster import (issue 13, item 8). /classes/<id>/roster: the form (a CSV file, dry run or
not) for the class's teacher or an admin of its institution; after sending it, the import's
progress (polled through /api/jobs/<id> by web/static/roster.js, which reloads the page when the
job ends) and then its report: the counts, the rows listed in the result (skipped first), every
row page by page (?page=N, read from the report's CSV) and the whole report to download. The rules are web/common/roster.py's, as for the API."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.jobs.outbox import commit_and_send
from core.roster import MAX_BYTES, MAX_ROWS
from web.common.refusal import Refusal
from web.common.roster import flag, import_job, importable_class, report_page, start_import
from web.common.serializers import job_json
from web.common.submit import QuotaExceeded
from web.pages.blueprint import bp
from web.sessions import page_login_required


def _back_url(school_class) -> str:
    if g.user.role == "teacher":
        return url_for("pages.teacher_class", class_id=school_class.id)
    return url_for("pages.home")


def _page(class_id: int, error: str | None = None, status: int = 200, dry_run: bool = True):
    db = session()
    school_class = importable_class(db, g.user, class_id)
    job = import_job(db, g.user, school_class, request.args.get("job"))
    shown = job_json(job) if job else None
    # ?page=N: that page of the whole report (from its CSV), in the file's order.
    asked = request.args.get("page", "")
    paged, pages = report_page(services().storage, job, int(asked)) if job and asked.isdigit() and len(asked) < 7 \
        else (None, 0)
    return render_template(
        "roster/import.html", title=f"Roster: {school_class.code}", school_class=school_class, job=job,
        job_data=shown, result=(shown or {}).get("result") or {}, error=error, dry_run=dry_run,
        max_bytes=MAX_BYTES, max_rows=MAX_ROWS, back_url=_back_url(school_class), paged=paged,
        page=min(max(int(asked), 1), pages) if paged is not None else None, pages=pages,
    ), status


@bp.get("/classes/<int:class_id>/roster")
@page_login_required("teacher", "admin")
def roster_page(class_id: int):
    return _page(class_id)


@bp.post("/classes/<int:class_id>/roster")
@page_login_required("teacher", "admin")
def roster_import_form(class_id: int):
    db = session()
    dry_run = flag(request.form.get("dry_run"))
    file = request.files.get("file")
    if file is None or not file.filename:
        return _page(class_id, "Choose a CSV file to import.", 400, dry_run)
    try:
        data = file.read(MAX_BYTES + 1)
    finally:
        file.close()  # a large part is spooled to a temporary file: let it go now
    try:
        asked = start_import(db, services().storage, g.user, class_id, data, dry_run,
                             services().settings.max_jobs_in_flight)
    except Refusal as exc:
        db.rollback()
        if exc.status in (403, 404):
            raise
        return _page(class_id, f"The file was not imported: {exc.message}.", exc.status, dry_run)
    except QuotaExceeded as exc:
        db.rollback()
        page, status = _page(class_id, str(exc), 429, dry_run)
        return page, status, {"Retry-After": str(exc.retry_after)}
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.roster_page", class_id=class_id, job=str(asked.job.id)), code=303)
