"""Pages: submissions (issue 13). The student's submit page (/activities/<id>/submit): the
activity, their submission and each file's check; files go straight to S3 from the page's
script (web/static/submissions.js, through the API's upload forms), text alone can be sent by
the form without script. The teacher's page (/activities/<id>/submissions): who submitted,
when (in the viewer's time zone), each file's state and download, and the ZIP of all with its
progress bar. The rules are web/common/submissions.py's, as for the API."""
from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.db import utcnow
from core.jobs.outbox import commit_and_send
from core.models import Job
from web.common.access import own_job
from web.common.pagination import PageRequest
from web.common.refusal import Refusal
from web.common.serializers import job_json
from web.common.submissions import (
    activity_for_student,
    ask_for_zip,
    closed_because,
    files_of,
    is_late,
    own_submission,
    parse_submission,
    record_submission,
    roster_page,
    submission_counts,
    teachers_activity,
    visible_activity,
)
from web.common.submit import QuotaExceeded
from web.hardening import CONTENT_SECURITY_POLICY
from web.pages.blueprint import bp
from web.sessions import page_login_required


def _submit_page(activity_id: int, message: str | None = None, error: str | None = None, status: int = 200):
    db, user = session(), g.user
    activity = visible_activity(db, user, activity_id)
    submission = own_submission(db, user, activity.id)
    files = files_of(db, [submission.id])[submission.id] if submission else []
    now = utcnow()
    page = render_template(
        "submissions/submit.html", title=f"Submit: {activity.title}", activity=activity, submission=submission,
        files=files, closed=closed_because(activity, now), late_now=is_late(activity, now), message=message,
        error=error, max_bytes=services().settings.submission_max_bytes,
        checked=all(f.state != "pending" for f in files),
    )
    return page, status, {"Content-Security-Policy": _csp_with_uploads()}


def _csp_with_uploads() -> str:
    """The site's policy, plus connecting to S3: the page's script sends files straight there
    (a response's own policy replaces the default one, web/hardening.py)."""
    return f"{CONTENT_SECURITY_POLICY}; connect-src 'self' {services().storage.upload_origin}"


@bp.get("/activities/<int:activity_id>/submit")
@page_login_required("student")
def submit_page(activity_id: int):
    return _submit_page(activity_id, message="Submitted." if request.args.get("done") else None)


@bp.post("/activities/<int:activity_id>/submit")
@page_login_required("student")
def submit_form(activity_id: int):
    """Without script: the text, keeping the files already submitted that stay ticked."""
    db, user = session(), g.user
    try:
        activity = activity_for_student(db, user, activity_id)
        content, keys = parse_submission({"body": request.form.get("body", ""), "files": request.form.getlist("keep")})
        record_submission(db, user, activity, content, keys, services().settings.max_jobs_in_flight)
    except Refusal as exc:
        db.rollback()
        if exc.status == 404:
            raise
        return _submit_page(activity_id, error=exc.message, status=exc.status)
    except QuotaExceeded as exc:
        db.rollback()
        return _submit_page(activity_id, error=str(exc), status=429)
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.submit_page", activity_id=activity_id, done=1), code=303)


def _zip_job(job_id: str | None, activity_id: int) -> Job | None:
    job = own_job(session(), g.user, job_id) if job_id else None
    if job is None or job.type != "submissions_zip" or job.payload.get("activity_id") != activity_id:
        return None
    return job


@bp.get("/activities/<int:activity_id>/submissions")
@page_login_required("teacher")
def submissions_page(activity_id: int):
    db = session()
    activity, school_class = teachers_activity(db, g.user, activity_id)
    page, rows = roster_page(db, school_class, activity, PageRequest.from_args(request.args))
    zip_job = _zip_job(request.args.get("zip"), activity.id)
    return render_template(
        "submissions/list.html", title=f"Submissions: {activity.title}", activity=activity,
        school_class=school_class, page=page, rows=rows, counts=submission_counts(db, activity),
        zip_job=zip_job, zip_data=job_json(zip_job) if zip_job else None,
    )


@bp.post("/activities/<int:activity_id>/submissions/zip")
@page_login_required("teacher")
def submissions_zip_form(activity_id: int):
    db = session()
    try:
        asked = ask_for_zip(db, g.user, activity_id, services().settings.max_jobs_in_flight)
    except QuotaExceeded as exc:
        db.rollback()
        raise Refusal(429, str(exc)) from None
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.submissions_page", activity_id=activity_id, zip=str(asked.job.id)), code=303)
