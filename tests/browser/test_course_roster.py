"""Roster import in real headless Chromium against the real local stack: the teacher sends a CSV
with good and bad rows from the roster page, the page polls the job and reloads itself when it
ends, and the report shows each bad row's reason and the new account created."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_pages import JOB_TIMEOUT_MS, TEACHER, log_in, teacher_class_id
from tests.support.stack import Stack

pytestmark = pytest.mark.browser


def test_a_csv_with_bad_rows_shows_its_report(page: Page, stack: Stack, shoot, tmp_path: Path):
    tag = uuid.uuid4().hex[:8]
    roster = tmp_path / "turma.csv"
    roster.write_text("\ufeffname,email,external_id\n"
                      f"Nova Aluna,nova-{tag}@example.test,N-{tag}\n"
                      "Sem Email,,\n"
                      f"Repetida,nova-{tag}@example.test,\n", encoding="utf-8")
    class_id = teacher_class_id(stack)
    log_in(page, TEACHER)
    page.goto(f"/classes/{class_id}/roster")
    page.set_input_files("input#roster-file", str(roster))
    page.uncheck("input#roster-dry-run")
    page.click("button#roster-import")
    report = page.locator("[data-roster-job]")
    expect(report).to_have_attribute("data-finished", "true", timeout=JOB_TIMEOUT_MS)
    expect(report.locator("[data-count-created]")).to_have_text("1")
    expect(report.locator("[data-count-skipped]")).to_have_text("2")
    expect(report.locator('tr[data-line="3"]')).to_contain_text("the email is empty")
    expect(report.locator('tr[data-line="4"]')).to_contain_text("the email is also on line 2")
    expect(report.locator('tr[data-line="2"]')).to_contain_text("created")
    expect(page.locator("#roster-report-download")).to_be_visible()
    shoot(page, "roster-report")
