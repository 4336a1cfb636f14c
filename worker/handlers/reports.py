"""The `report` job (core/jobs/types.py REPORT): build a class report, store it in S3. See
core/reports.py for the contents."""
from __future__ import annotations

from typing import Any

from core.jobs.types import REPORT, ReportPayload
from core.models import SchoolClass
from core.reports import build_report as build
from worker.context import JobContext
from worker.effects import record_effect
from worker.errors import PermanentJobError
from worker.handlers import handles

# Progress: 0-10 loading, 10-80 writing rows (a point per chunk of rows), 90 stored.
BUILD_START, BUILD_END = 10, 80


@handles(REPORT)
def build_report(ctx: JobContext, payload: ReportPayload) -> dict[str, Any]:
    kind, fmt = payload.kind, payload.format
    school_class = ctx.session.get(SchoolClass, payload.class_id)
    if school_class is None:
        raise PermanentJobError(f"class {payload.class_id} no longer exists")
    ctx.progress(5)
    report = build(
        ctx.session, school_class, kind, fmt,
        progress=lambda percent: ctx.progress(BUILD_START + percent * (BUILD_END - BUILD_START) // 100),
    )
    ctx.progress(BUILD_END)
    # One object per job at a deterministic key: a retried or redelivered job overwrites its
    # own file instead of storing a second one.
    key = f"reports/{ctx.job.id}/{report.filename}"
    ctx.services.storage.put(key, report.data, report.content_type)
    ctx.progress(90)
    # Recorded after the last progress point: a progress point is its own transaction, and on
    # SQLite it would wait for this one's write lock.
    record_effect(ctx.session, f"report:{ctx.job.id}", ctx.job.id,
                  {"file_key": key, "bytes": len(report.data), "rows": report.rows})
    return {
        "file_key": key,
        "filename": report.filename,
        "rows": report.rows,
        "content_type": report.content_type,
        "kind": kind,
        "format": fmt,
    }
