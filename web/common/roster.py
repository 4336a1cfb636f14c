"""Asking for a roster import (issue 13, item 8), shared by the API (POST
/api/classes/<id>/roster-imports) and the page (/classes/<id>/roster): who may, the file's
limits (checked here before it is stored, and by the job again from the stored bytes), the
upload to S3 and the `roster_import` job. The rules for each row are core/roster.py's."""
from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from sqlalchemy.orm import Session

from core.jobs.types import ROSTER_IMPORT, RosterImportPayload
from core.models import Job, SchoolClass, User
from core.roster import MAX_BYTES, RosterFileError, may_import, parse_roster
from core.storage import S3Storage
from web.common.access import own_job, visible_class
from web.common.refusal import Refusal
from web.common.submit import Submitted, submit

TRUE_WORDS = ("1", "true", "yes", "on")


def importable_class(db: Session, user: User, class_id: int) -> SchoolClass:
    """A class the user may import into (its teacher, an admin of its institution); 404 for one
    they cannot see, 403 for one they see but may not change (a student's)."""
    school_class = visible_class(db, user, class_id)
    if school_class is None:
        raise Refusal(404, f"class {class_id} not found")
    if not may_import(user.role, user.id, user.institution_id, school_class.teacher_id, school_class.institution_id):
        raise Refusal(403, "only the class's teacher or an admin of its institution imports its roster")
    return school_class


def flag(value: Any, name: str = "dry_run") -> bool:
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in (*TRUE_WORDS, "0", "false", "no", "off", ""):
        return value.strip().lower() in TRUE_WORDS
    raise Refusal(400, f"{name} must be true or false", field=name)


def check_file(data: bytes) -> int:
    """The number of rows, or a Refusal (413 too large, 422 unreadable) naming the file."""
    try:
        rows = parse_roster(data)
    except RosterFileError as exc:
        raise Refusal(exc.status, exc.message, field="file") from None
    if not rows:
        raise Refusal(422, "the file has a header but no rows", field="file")
    return len(rows)


def start_import(db: Session, storage: S3Storage, user: User, class_id: int, data: bytes, dry_run: bool,
                 max_in_flight: int, *, check: bool = True) -> Submitted:
    """Store the file and ask for its import (the caller commits and sends). With `check` (the
    page: a person is waiting) a file that cannot be read is refused now; the API leaves that to
    the job, which fails with the same reason (core/roster.py), so any text the API's document
    calls valid is accepted. Raises Refusal, or QuotaExceeded over the user's requests in flight."""
    school_class = importable_class(db, user, class_id)
    if len(data) > MAX_BYTES:
        raise Refusal(413, f"the file is larger than {MAX_BYTES} bytes", field="file")
    if check:
        check_file(data)
    key = f"roster-imports/{school_class.id}/{uuid.uuid4().hex}.csv"
    payload = RosterImportPayload(class_id=school_class.id, key=key, dry_run=dry_run)
    asked = submit(db, ROSTER_IMPORT, payload, user.id, max_in_flight)
    # Stored only once the quota let the job in: a refused request leaves no file behind.
    storage.put(key, data, "text/csv")
    return asked


def import_job(db: Session, user: User, school_class: SchoolClass, job_id: str | None) -> Job | None:
    """The user's own import job into this class, else None (someone else's is not found)."""
    job = own_job(db, user, job_id) if job_id else None
    if job is None or job.type != ROSTER_IMPORT.name or job.payload.get("class_id") != school_class.id:
        return None
    return job


# Rows per page when the teacher pages through the whole report.
REPORT_PAGE_ROWS = 200
_FORMULA_GUARD = ("'=", "'+", "'-", "'@")  # what the job's CSV put before a cell a spreadsheet would run


def report_page(storage: S3Storage, job: Job, page: int) -> tuple[list[dict[str, str]], int]:
    """One page (from 1, in the file's order) of the whole report the job stored, and the
    number of pages: for a report longer than the rows its result lists."""
    result = job.result or {}
    if job.state != "succeeded" or "file_key" not in result:
        return [], 0
    pages = max(1, -(-int(result.get("total", 0)) // REPORT_PAGE_ROWS))
    page = min(max(page, 1), pages)
    reader = csv.DictReader(io.StringIO(storage.get(result["file_key"]).decode("utf-8-sig"), newline=""))
    start, rows = (page - 1) * REPORT_PAGE_ROWS, []
    for number, row in enumerate(reader):
        if number >= start + REPORT_PAGE_ROWS:
            break
        if number >= start:
            rows.append({k: (v[1:] if v.startswith(_FORMULA_GUARD) else v) for k, v in row.items()})
    return rows, pages
