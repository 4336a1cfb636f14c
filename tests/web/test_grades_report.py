"""The grades report includes each student's submission state per activity (issue 13, item 3):
the XLSX's second sheet, `submissions`, with the same students and activity columns as the
scores sheet; the scores sheet and the CSV are unchanged."""
from __future__ import annotations

import io
from datetime import timedelta

import openpyxl

from core.db import utcnow
from core.models import Activity, Grade, Submission
from core.reports import GRADES_LEADING_COLUMNS, build_report, grades_table
from tests import factories


def test_the_xlsx_has_a_submissions_sheet_with_each_students_state(db):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, (a, b, c) = factories.school_class(db, teacher, students=3)
    now = utcnow()
    first, second = (Activity(class_id=group.id, title=t, description="", due_at=now + timedelta(days=d),
                              published_at=now, status="published") for t, d in (("P1", 1), ("P2", 2)))
    db.add_all([first, second])
    db.flush()
    db.add_all([Grade(activity_id=first.id, student_id=a.id, score=5, graded_at=now),  # on paper: graded
                Submission(activity_id=first.id, student_id=b.id, body="x", late=True),
                Submission(activity_id=second.id, student_id=b.id, body="y"),
                Submission(activity_id=second.id, student_id=a.id, body="z")])
    db.commit()

    table = grades_table(db, group)
    [sheet] = table.sheets
    assert sheet.columns == [*GRADES_LEADING_COLUMNS, f"P1 (#{first.id})", f"P2 (#{second.id})"]
    assert {row[0]: row[3:] for row in sheet.rows} == {
        a.id: ["graded", "submitted"], b.id: ["late", "submitted"], c.id: ["not_submitted", "not_submitted"]}

    workbook = openpyxl.load_workbook(io.BytesIO(build_report(db, group, "class_grades", "xlsx").data))
    assert workbook.sheetnames == ["grades", "submissions"]
    rows = [list(r) for r in workbook["submissions"].iter_rows(values_only=True)]
    assert rows[0] == sheet.columns and rows[1:] == sheet.rows
    csv = build_report(db, group, "class_grades", "csv").data.decode()
    assert "not_submitted" not in csv  # the CSV is the scores table alone
