"""Report contents, built from the database. Pure: no storage, no job bookkeeping."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import Enrollment, SchoolClass, User

REPORT_KINDS = ("class_roster",)
REPORT_FORMATS = ("csv",)
ROSTER_COLUMNS = ("student_id", "full_name", "email", "enrolled_at")


@dataclass(frozen=True)
class BuiltReport:
    filename: str
    content_type: str
    data: bytes
    rows: int


def roster_rows(session: Session, class_id: int) -> list[tuple[int, str, str, str]]:
    rows = session.execute(
        sa.select(User.id, User.full_name, User.email, Enrollment.enrolled_at)
        .join(Enrollment, Enrollment.student_id == User.id)
        .where(Enrollment.class_id == class_id)
        .order_by(User.full_name, User.id)
    ).all()
    return [(r.id, r.full_name, r.email, r.enrolled_at.strftime("%Y-%m-%dT%H:%M:%SZ")) for r in rows]


def class_roster_csv(session: Session, school_class: SchoolClass) -> BuiltReport:
    rows = roster_rows(session, school_class.id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ROSTER_COLUMNS)
    writer.writerows(rows)
    return BuiltReport(
        filename=f"roster-{school_class.code}.csv",
        content_type="text/csv; charset=utf-8",
        data=buffer.getvalue().encode("utf-8"),
        rows=len(rows),
    )
