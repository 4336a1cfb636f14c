"""Asking for a report, for the API (POST /api/reports) and the teacher's class page.

The caller turns its input into a `ReportPayload` with `REPORT.parse` (the declaration in
core/jobs/types.py: an InputError names the field at fault), then calls `ask_for_report`, and
commits and sends with core.jobs.outbox.commit_and_send. The worker builds the file in
worker/handlers/reports.py.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from core.jobs.types import REPORT, ReportPayload
from core.models import User
from web.common.access import visible_class
from web.common.submit import Submitted, submit


class ReportRefused(Exception):
    """The caller may not have this report: 404 (a class they cannot see, so ids reveal nothing)
    or 403 (one they see but do not teach: a student's own class, an admin's institution)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def ask_for_report(db: Session, user: User, payload: ReportPayload, max_in_flight: int) -> Submitted:
    """The report job: the same report already in progress (coalesced), or a new one under the
    user's quota (QuotaExceeded). Raises ReportRefused unless the user teaches the class."""
    school_class = visible_class(db, user, payload.class_id)
    if school_class is None:
        raise ReportRefused(404, f"class {payload.class_id} not found")
    if school_class.teacher_id != user.id:
        raise ReportRefused(403, "only the class's teacher can ask for its reports")
    return submit(db, REPORT, payload, user.id, max_in_flight)
