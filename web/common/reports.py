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
from web.common.refusal import Refusal
from web.common.submit import Submitted, submit


def ask_for_report(db: Session, user: User, payload: ReportPayload, max_in_flight: int) -> Submitted:
    """The report job: the same report already in progress (coalesced), or a new one under the
    user's quota (QuotaExceeded). Refused unless the user teaches the class: 404 for a class
    they cannot see (so ids reveal nothing), 403 for one they see but do not teach (a student's
    own class, an admin's institution)."""
    school_class = visible_class(db, user, payload.class_id)
    if school_class is None:
        raise Refusal(404, f"class {payload.class_id} not found", field="class_id")
    if school_class.teacher_id != user.id:
        raise Refusal(403, "only the class's teacher can ask for its reports", field="class_id")
    return submit(db, REPORT, payload, user.id, max_in_flight)
