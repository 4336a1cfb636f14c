"""Report contents, built from the database. Pure: no storage, no job bookkeeping.

A report is a table (columns + rows of native values) written as CSV or XLSX. Kinds:

- `class_roster`: one row per enrolled student: student_id, full_name, email, enrolled_at.
- `class_grades`: one row per enrolled student: student_id, full_name, email, then one column
  per published activity of the class (ordered by due date, undated last; headed
  "<title> (#<activity id>)" so equal titles stay apart) holding the score or an empty cell,
  then `graded` (how many of those activities have a score) and `average` (the mean of the
  scores the student has, rounded to 2 decimals; empty when none). A missing grade is not
  counted as zero: `graded` shows over how many activities the average was taken. The XLSX
  has a second sheet, `submissions`: the same rows and activity columns holding each student's
  state in the activity (not_submitted, submitted, late, graded; graded wins, since work handed
  in on paper is graded without a submission). The CSV, one table, has the scores only.

Both formats carry the same columns and rows. Times are UTC (CSV: ISO 8601 with Z). Scores are
numbers with two decimals. Text that a spreadsheet would run as a formula (starting with =, +,
-, @) is neutralised: prefixed with ' in CSV, stored as a plain string in XLSX.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import Activity, Enrollment, Grade, SchoolClass, Submission, User

ReportKind = Literal["class_roster", "class_grades"]
ReportFormat = Literal["csv", "xlsx"]
REPORT_KINDS: tuple[str, ...] = get_args(ReportKind)
REPORT_FORMATS: tuple[str, ...] = get_args(ReportFormat)
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
ROSTER_COLUMNS = ("student_id", "full_name", "email", "enrolled_at")
GRADES_LEADING_COLUMNS = ("student_id", "full_name", "email")
GRADES_TRAILING_COLUMNS = ("graded", "average")
# A progress point every this many rows written (each is one short database transaction).
CHUNK_ROWS = 200

Progress = Callable[[int], None]  # percent of the build done, 0..100


@dataclass(frozen=True)
class BuiltReport:
    filename: str
    content_type: str
    data: bytes
    rows: int


@dataclass(frozen=True)
class Table:
    title: str  # the sheet's name, and the file name's first word
    columns: list[str]
    rows: list[list[Any]]  # int, float, str, datetime (UTC) or None
    # More sheets after this one, in XLSX only (CSV is one table).
    sheets: tuple[Table, ...] = ()


# --- contents ----------------------------------------------------------------------------

def _students(session: Session, class_id: int) -> list[Any]:
    return session.execute(
        sa.select(User.id, User.full_name, User.email, Enrollment.enrolled_at)
        .join(Enrollment, Enrollment.student_id == User.id)
        .where(Enrollment.class_id == class_id)
        .order_by(User.full_name, User.id)
    ).all()


def roster_table(session: Session, school_class: SchoolClass) -> Table:
    rows = [[r.id, r.full_name, r.email, r.enrolled_at] for r in _students(session, school_class.id)]
    return Table("roster", list(ROSTER_COLUMNS), rows)


def roster_rows(session: Session, class_id: int) -> list[tuple[int, str, str, str]]:
    """The roster as the CSV shows it (enrolled_at as ISO 8601 UTC text)."""
    return [(r.id, r.full_name, r.email, _iso(r.enrolled_at)) for r in _students(session, class_id)]


def grade_activities(session: Session, class_id: int) -> list[Any]:
    """The activities that get a column in the grades report, in column order."""
    return session.execute(
        sa.select(Activity.id, Activity.title)
        .where(Activity.class_id == class_id, Activity.published_at.is_not(None))
        .order_by(Activity.due_at.is_(None), Activity.due_at, Activity.published_at, Activity.id)
    ).all()


def grades_table(session: Session, school_class: SchoolClass) -> Table:
    activities = grade_activities(session, school_class.id)
    scores: dict[tuple[int, int], float] = {
        # float(): SQLite hands back a whole-number score as an int.
        (g.student_id, g.activity_id): float(g.score)
        for g in session.execute(
            sa.select(Grade.student_id, Grade.activity_id, Grade.score)
            .join(Activity, Activity.id == Grade.activity_id)
            .where(Activity.class_id == school_class.id)
        )
    }
    headings = [f"{a.title} (#{a.id})" for a in activities]
    columns = [*GRADES_LEADING_COLUMNS, *headings, *GRADES_TRAILING_COLUMNS]
    late: dict[tuple[int, int], bool] = {
        (s.student_id, s.activity_id): s.late
        for s in session.execute(
            sa.select(Submission.student_id, Submission.activity_id, Submission.late)
            .join(Activity, Activity.id == Submission.activity_id)
            .where(Activity.class_id == school_class.id)
        )
    }
    rows, states = [], []
    for student in _students(session, school_class.id):
        row_scores = [scores.get((student.id, a.id)) for a in activities]
        present = [s for s in row_scores if s is not None]
        average = round(sum(present) / len(present), 2) if present else None
        rows.append([student.id, student.full_name, student.email, *row_scores, len(present), average])
        states.append([student.id, student.full_name, student.email,
                       *(submission_state(scores.get((student.id, a.id)), late.get((student.id, a.id)))
                         for a in activities)])
    submissions = Table("submissions", [*GRADES_LEADING_COLUMNS, *headings], states)
    return Table("grades", columns, rows, sheets=(submissions,))


def submission_state(score: float | None, late: bool | None) -> str:
    """A student's state in an activity: graded, else late or submitted by their submission
    (`late` None: none), else not_submitted."""
    if score is not None:
        return "graded"
    if late is not None:
        return "late" if late else "submitted"
    return "not_submitted"


TABLES: dict[str, Callable[[Session, SchoolClass], Table]] = {
    "class_roster": roster_table,
    "class_grades": grades_table,
}


# --- formats -----------------------------------------------------------------------------

def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _formula_like(value: str) -> bool:
    return value[:1] in ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, str):
        return "'" + value if _formula_like(value) else value
    return str(value)


def _chunks(rows: Sequence[Any], progress: Progress | None):
    total = len(rows)
    for start in range(0, total, CHUNK_ROWS):
        yield rows[start : start + CHUNK_ROWS]
        done = min(start + CHUNK_ROWS, total)
        if progress is not None and done < total:
            progress(done * 100 // total)


def to_csv(table: Table, progress: Progress | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_csv_cell(c) for c in table.columns])
    for chunk in _chunks(table.rows, progress):
        writer.writerows([_csv_cell(v) for v in row] for row in chunk)
    return buffer.getvalue().encode("utf-8")


def to_xlsx(table: Table, progress: Progress | None = None) -> bytes:
    # openpyxl: the maintained pure-Python library for reading and writing XLSX (no Excel,
    # no native code), so both tiers and the tests use the same one.
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    bold = Font(bold=True)

    def write(sheet: Any, table: Table, progress: Progress | None) -> None:
        sheet.title = table.title[:31]
        widths = [len(str(c)) for c in table.columns]

        def put(row: int, column: int, value: Any) -> Any:
            if isinstance(value, datetime):
                value = value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones
            elif isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)
            cell = sheet.cell(row=row, column=column, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
                widths[column - 1] = max(widths[column - 1], len(value))
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
                widths[column - 1] = max(widths[column - 1], 19)
            elif isinstance(value, float):
                cell.number_format = "0.00"
            return cell

        for column, name in enumerate(table.columns, start=1):
            put(1, column, name).font = bold
        row_number = 1
        for chunk in _chunks(table.rows, progress):
            for row in chunk:
                row_number += 1
                for column, value in enumerate(row, start=1):
                    put(row_number, column, value)
        sheet.freeze_panes = "A2"
        for column, width in enumerate(widths, start=1):
            sheet.column_dimensions[get_column_letter(column)].width = min(60, width + 2)

    write(workbook.active, table, progress)
    for extra in table.sheets:
        write(workbook.create_sheet(), extra, None)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


WRITERS: dict[str, Callable[[Table, Progress | None], bytes]] = {"csv": to_csv, "xlsx": to_xlsx}


def _file_stem(code: str) -> str:
    # The name ends up in an S3 key and a Content-Disposition header: keep it plain.
    return re.sub(r"[^A-Za-z0-9._-]+", "-", code).strip("-.") or "class"


def build_report(
    session: Session, school_class: SchoolClass, kind: str, fmt: str, progress: Progress | None = None
) -> BuiltReport:
    if kind not in TABLES or fmt not in WRITERS:
        raise ValueError(f"unsupported report {kind!r} in format {fmt!r}")
    table = TABLES[kind](session, school_class)
    if progress is not None:
        progress(0)
    data = WRITERS[fmt](table, progress)
    return BuiltReport(
        filename=f"{table.title}-{_file_stem(school_class.code)}.{fmt}",
        content_type=CONTENT_TYPES[fmt],
        data=data,
        rows=len(table.rows),
    )
