"""An upload form for one file of a submission: a presigned POST the browser sends the file
with, straight to S3 (core/storage.py upload_form). The policy S3 enforces is the first limit
(this key, the type that follows from the file's extension, at most SUBMISSION_MAX_BYTES); the
worker's check is the second, from the bytes that arrived."""
from __future__ import annotations

from typing import Any

from core.models import Activity, User
from core.parsing import text
from core.storage import S3Storage
from core.submissions import FileRefused, file_type, safe_filename, upload_key
from web.common.refusal import Refusal

# Long enough for a slow connection to start a 20 MB upload; S3 checks the expiry when the POST
# begins, not when it ends.
UPLOAD_FORM_SECONDS = 15 * 60
FILENAME_INPUT_MAX = 255


def upload_form(storage: S3Storage, user: User, activity: Activity, body: dict[str, Any],
                max_bytes: int) -> dict[str, Any]:
    """The form for the file `body` names ({filename}); a Refusal naming the field for a type
    that is not allowed (422). The size is not asked: the policy bounds it whatever a client
    says, and the answer's max_bytes lets a page refuse a large file before sending it."""
    raw = text(body.get("filename"), "filename", required=True, max_length=FILENAME_INPUT_MAX)
    filename = safe_filename(raw)
    try:
        kind = file_type(filename)
    except FileRefused as exc:
        raise Refusal(422, exc.message, field=exc.field) from None
    key = upload_key(activity.id, user.id, filename)
    form = storage.upload_form(key, kind.content_type, max_bytes, UPLOAD_FORM_SECONDS)
    return {"key": key, "filename": filename, "content_type": kind.content_type, "max_bytes": max_bytes,
            "expires_in": UPLOAD_FORM_SECONDS, "url": form["url"], "fields": form["fields"]}
