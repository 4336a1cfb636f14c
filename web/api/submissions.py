"""/api: submissions (issue 13). A student asks for an upload form per file (POST .../uploads),
sends the file straight to S3 with it, then records the submission (PUT .../submission), whose
files the worker checks; the teacher lists who submitted, downloads a file, and asks for the
ZIP of all (a `submissions_zip` job, polled at /api/jobs/<id>, downloaded at its download_url).
The rules are in web/common/submissions.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, redirect, request

from core.app import json_error, services, session
from core.jobs.outbox import commit_and_send
from core.parsing import known_fields
from web.api.guard import current_user, json_body, login_required, quota_response
from web.api.polling import polled
from web.common.pagination import PageRequest
from web.common.serializers import job_json
from web.common.submissions import (
    activity_for_student,
    ask_for_zip,
    downloadable_file,
    files_of,
    own_submission,
    parse_submission,
    record_submission,
    roster_page,
    student_row_json,
    submission_counts,
    submission_json,
    teachers_activity,
    visible_activity,
)
from web.common.submit import QuotaExceeded
from web.common.uploads import upload_form
from web.rate_limits import UPLOAD_FORMS, RateLimited, count_request

bp = Blueprint("submissions", __name__)

# A file's download link is for clicking now, not for sharing.
FILE_URL_SECONDS = 60


@bp.post("/activities/<int:activity_id>/uploads")
@login_required
def new_upload(activity_id: int):
    db, user = session(), current_user()
    activity = activity_for_student(db, user, activity_id)
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with the file's filename")
    known_fields(body, ("filename",))
    try:
        count_request(db, UPLOAD_FORMS, user.id)
    except RateLimited as exc:
        response, status = json_error(429, str(exc), limit=exc.limit.requests)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response, status
    settings = services().settings
    form = upload_form(services().storage, user, activity, body, settings.submission_max_bytes)
    return jsonify({"upload": form}), 201


@bp.get("/activities/<int:activity_id>/submission")
@login_required
def show_own(activity_id: int):
    db, user = session(), current_user()
    visible_activity(db, user, activity_id)
    submission = own_submission(db, user, activity_id)
    if submission is None:
        return polled({"submission": None}, finished=True)
    shown = submission_json(submission, files_of(db, [submission.id])[submission.id])
    # Polled by the submit page until every file is checked.
    return polled({"submission": shown}, finished=shown["checked"])


@bp.put("/activities/<int:activity_id>/submission")
@login_required
def submit_work(activity_id: int):
    db, user = session(), current_user()
    activity = activity_for_student(db, user, activity_id)
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with body and files")
    known_fields(body, ("body", "files"))
    content, keys = parse_submission(body)
    try:
        recorded = record_submission(db, user, activity, content, keys, services().settings.max_jobs_in_flight)
    except QuotaExceeded as exc:
        db.rollback()
        return quota_response(exc)
    commit_and_send(db, services().queue)
    answer = {"submission": submission_json(recorded.submission, recorded.files),
              "job": job_json(recorded.check.job) if recorded.check else None}
    return jsonify(answer), 200


@bp.get("/activities/<int:activity_id>/submissions")
@login_required
def list_submissions(activity_id: int):
    db, user = session(), current_user()
    activity, school_class = teachers_activity(db, user, activity_id)
    page, rows = roster_page(db, school_class, activity, PageRequest.from_args(request.args))
    return jsonify({"items": [student_row_json(r) for r in rows], "counts": submission_counts(db, activity),
                    **page.meta()})


@bp.get("/submission-files/<int:file_id>/download")
@login_required
def download_file(file_id: int):
    file = downloadable_file(session(), current_user(), file_id)
    url = services().storage.download_url(file.key, file.filename, FILE_URL_SECONDS)
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/activities/<int:activity_id>/submissions/zip")
@login_required
def ask_zip(activity_id: int):
    db = session()
    try:
        asked = ask_for_zip(db, current_user(), activity_id, services().settings.max_jobs_in_flight)
    except QuotaExceeded as exc:
        db.rollback()
        return quota_response(exc)
    commit_and_send(db, services().queue)
    response = jsonify({"job": job_json(asked.job)})
    response.status_code = 202 if asked.created else 200
    response.headers["Location"] = f"/api/jobs/{asked.job.id}"
    return response
