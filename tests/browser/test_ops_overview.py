"""The console's overview in real Chromium against the local stack: an operator lands on it after
login, sees the counts, charts and queues, pauses the report type from the page (a teacher's
report then stays queued, with the reason shown), resumes it and the report runs once."""
from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from core.models import Job
from tests.browser.test_pages import JOB_TIMEOUT_MS, TEACHER, log_in, teacher_class_id
from tests.support.stack import Stack

pytestmark = pytest.mark.browser

OPERATOR = ("operator@ops.aula.local", "aula-operator")
REASON = "S3 maintenance window (browser test)"


def _job(stack: Stack, job_id: str) -> tuple[str, int, object]:
    with stack.engine.connect() as conn:
        row = conn.execute(sa.select(Job.state, Job.attempts, Job.published_at)
                           .where(Job.id == uuid.UUID(job_id))).one()
    return row.state, row.attempts, row.published_at


def _ask_for_a_report(stack: Stack) -> tuple[str, dict[str, str]]:
    login = requests.post(stack.web + "/api/login", json={"email": TEACHER[0], "password": TEACHER[1]}, timeout=10)
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    response = requests.post(stack.web + "/api/reports", headers=headers, timeout=10,
                             json={"kind": "class_roster", "class_id": teacher_class_id(stack), "format": "csv"})
    assert response.status_code == 202, response.text
    return response.json()["job"]["id"], headers


def test_an_operator_pauses_and_resumes_a_type_from_the_overview(page: Page, stack: Stack, shoot):
    log_in(page, OPERATOR)
    expect(page).to_have_url(re.compile(r"/ops/$"))
    expect(page.locator("h1")).to_have_text("Operations overview")
    expect(page.locator("#chart-hour-all-title")).to_have_text("All job types, last hour, per minute")
    expect(page.locator("tr[data-queue=main]")).to_contain_text("aula-jobs")
    shoot(page, "ops-overview")

    page.select_option("#pause-form select[name=type]", "report")
    page.fill("#pause-form input[name=reason]", REASON)
    page.click("#pause-form button[type=submit]")
    expect(page.locator("[data-notice]")).to_contain_text("Paused report")
    expect(page.locator('tr[data-paused="report"]')).to_contain_text(REASON)

    job_id, headers = _ask_for_a_report(stack)
    # Held: whether the web tier's sender skipped it or the worker acknowledged its message
    # without a claim, it stays queued, unclaimed and unpublished.
    time.sleep(6)
    assert _job(stack, job_id) == ("queued", 0, None)
    # The live overview (polled, the part re-rendered without a reload) counts it among the held.
    row = page.locator("table[data-counts=jobs] tr[data-type=report]")
    expect(row).to_contain_text("paused")
    expect(row.locator("td").last).to_have_text("1")
    expect(page.locator("[data-live-status]")).to_contain_text("Updated")

    page.locator('tr[data-paused="report"] button').click()
    expect(page.locator("[data-notice]")).to_contain_text("Resumed report")
    expect(page.locator("[data-no-pauses]")).to_be_visible()
    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while (body := requests.get(f"{stack.web}/api/jobs/{job_id}", headers=headers, timeout=10).json())["job"][
            "state"] != "succeeded":
        assert time.monotonic() < deadline, f"the report did not run after the resume: {body}"
        time.sleep(0.5)
    assert _job(stack, job_id)[:2] == ("succeeded", 1)  # ran once
