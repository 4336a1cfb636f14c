"""Submissions in real headless Chromium against the real local stack: a student submits a
PDF from the submit page (the page's script asks for an upload form and POSTs the file straight
to moto's S3, cross-origin), watches the check verify it; the teacher sees who submitted, builds
the ZIP of all submissions, watches its bar and downloads a ZIP holding the student's file."""
from __future__ import annotations

import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.browser.conftest import DEFAULT_TIMEOUT_MS, VIEWPORT
from tests.browser.test_pages import JOB_TIMEOUT_MS, STUDENT, TEACHER, log_in, teacher_class_id
from tests.support.stack import Stack

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" + b"%" * 2000


def _publish(stack: Stack, title: str) -> int:
    login = requests.post(stack.web + "/api/login", json={"email": TEACHER[0], "password": TEACHER[1]}, timeout=10)
    auth = {"Authorization": f"Bearer {login.json()['token']}"}
    due = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    published = requests.post(f"{stack.web}/api/classes/{teacher_class_id(stack)}/activities", headers=auth,
                              json={"title": title, "description": "Envie o PDF", "due_at": due}, timeout=10)
    assert published.status_code == 202, published.text
    return published.json()["activity"]["id"]


def test_a_student_submits_a_file_and_the_teacher_downloads_the_zip(page: Page, browser, stack: Stack, shoot,
                                                                    tmp_path: Path):
    activity_id = _publish(stack, f"Trabalho {uuid.uuid4().hex[:6]}")
    pdf = tmp_path / "relatório final.pdf"
    pdf.write_bytes(PDF)

    log_in(page, STUDENT)
    page.goto(f"/activities/{activity_id}/submit")
    expect(page.locator("[data-submission-state]")).to_contain_text("Not submitted yet.")
    page.fill("textarea#body", "Segue o relatório.")
    page.set_input_files("input#files", str(pdf))
    page.click("button#submit-work")
    expect(page).to_have_url(f"{stack.web}/activities/{activity_id}/submit?done=1")
    item = page.locator("[data-files] li").first
    expect(item).to_contain_text("relatorio-final.pdf")
    expect(item.locator("[data-file-state]")).to_have_text("verified", timeout=JOB_TIMEOUT_MS)
    expect(item.locator("a")).to_have_attribute("href", f"/api/submission-files/{item.get_attribute('data-file')}"
                                                        "/download")
    shoot(page, "submission-student")
    with stack.engine.connect() as conn:
        checksum = conn.execute(sa.text("SELECT f.checksum FROM submission_files f JOIN submissions s "
                                        "ON s.id = f.submission_id WHERE s.activity_id = :a"),
                                {"a": activity_id}).scalar_one()
    import hashlib
    assert checksum == hashlib.sha256(PDF).hexdigest()

    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True, base_url=stack.web, locale="en-US",
                                  timezone_id="UTC")
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        teacher = context.new_page()
        log_in(teacher, TEACHER)
        teacher.goto(f"/activities/{activity_id}/submissions")
        expect(teacher.locator("[data-count-submitted]")).to_have_text("1")
        expect(teacher.locator('tr[data-state="submitted"]')).to_have_count(1)
        teacher.click("button#build-zip")
        bar = teacher.locator("progress#zip-progress")
        expect(bar).to_be_visible()
        link = teacher.locator("a#download-zip")
        expect(link).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(bar).to_have_attribute("value", "100")
        shoot(teacher, "submissions-teacher")
        with teacher.expect_download(timeout=30_000) as download_info:
            link.click()
        download = download_info.value
        assert download.suggested_filename == f"submissions-activity-{activity_id}.zip"
        path = tmp_path / download.suggested_filename
        download.save_as(path)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            pdfs = [n for n in names if n.endswith("/relatorio-final.pdf")]
            assert len(pdfs) == 1 and archive.read(pdfs[0]) == PDF, names
            assert "index.csv" in names
    finally:
        context.close()
