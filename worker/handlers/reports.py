from __future__ import annotations

from typing import Any

from core.jobs.errors import PermanentJobError
from core.models import SchoolClass
from core.reports import class_roster_csv
from worker.context import JobContext


def build_report(ctx: JobContext) -> dict[str, Any]:
    payload = ctx.payload
    if payload.get("kind") != "class_roster" or payload.get("format", "csv") != "csv":
        raise PermanentJobError(f"unsupported report {payload.get('kind')!r} in format {payload.get('format')!r}")
    school_class = ctx.session.get(SchoolClass, payload.get("class_id"))
    if school_class is None:
        raise PermanentJobError(f"class {payload.get('class_id')} no longer exists")
    ctx.progress(10)
    report = class_roster_csv(ctx.session, school_class)
    ctx.progress(60)
    # One object per job: a redelivered job overwrites its own file.
    key = f"reports/{ctx.job.id}/{report.filename}"
    ctx.services.storage.put(key, report.data, report.content_type)
    ctx.progress(90)
    return {"file_key": key, "filename": report.filename, "rows": report.rows, "content_type": report.content_type}
