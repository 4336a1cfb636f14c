"""/api: roster imports (issue 13, item 8). A class's teacher, or an admin of its institution,
sends a CSV of students (multipart field `file`, or JSON `{"csv": "..."}`), optionally as a
dry run; the answer is the `roster_import` job (202, Location /api/jobs/<id>), whose result is
the report, or whose error says why the file could not be read (the API refuses only a file
over the size limit, 413: its document cannot describe a readable CSV, so what it calls valid
must be accepted). The rules are web/common/roster.py's and core/roster.py's."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from core.app import services, session
from core.jobs.outbox import commit_and_send
from core.parsing import known_fields
from core.roster import MAX_BYTES
from web.api.guard import current_user, json_body, login_required, quota_response
from web.common.refusal import Refusal
from web.common.roster import flag, start_import
from web.common.serializers import job_json
from web.common.submit import QuotaExceeded

bp = Blueprint("roster", __name__)


def _upload() -> tuple[bytes, bool]:
    if request.mimetype == "multipart/form-data":
        file = request.files.get("file")
        if file is None:
            raise Refusal(400, "send the CSV as the multipart field 'file'", field="file")
        try:
            data = file.read(MAX_BYTES + 1)
        finally:
            file.close()  # a large part is spooled to a temporary file: let it go now
        return data, flag(request.form.get("dry_run"))
    body = json_body()
    if body is None:
        raise Refusal(400, "send the CSV as multipart field 'file', or a JSON object with 'csv'", field="csv")
    known_fields(body, ("csv", "dry_run"))
    text = body.get("csv")
    if not isinstance(text, str) or not text:
        raise Refusal(400, "csv must be the file's text", field="csv")
    if len(text) > MAX_BYTES:  # its document's maxLength (the bytes are checked next: 413)
        raise Refusal(422, f"csv is longer than {MAX_BYTES} characters", field="csv")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise Refusal(400, "dry_run must be true or false", field="dry_run")
    return text.encode("utf-8", errors="replace"), dry_run


@bp.post("/classes/<int:class_id>/roster-imports")
@login_required
def create_import(class_id: int):
    db, user = session(), current_user()
    data, dry_run = _upload()
    try:
        asked = start_import(db, services().storage, user, class_id, data, dry_run,
                             services().settings.max_jobs_in_flight, check=False)
    except Refusal as exc:
        db.rollback()
        field = exc.extra.get("field")
        if field == "file" and request.mimetype != "multipart/form-data":
            exc.extra["field"] = "csv"
        raise
    except QuotaExceeded as exc:
        db.rollback()
        return quota_response(exc)
    commit_and_send(db, services().queue)
    response = jsonify({"job": job_json(asked.job)})
    response.status_code = 202
    response.headers["Location"] = f"/api/jobs/{asked.job.id}"
    return response

