"""Scheduled publishing in real Chromium against the real local stack (issue 13, item 4): a
teacher schedules an activity hours ahead from the page (the confirmation names how many students
will be emailed); until its time the publishing task leaves it alone and students cannot open it;
once its time has come (the clock moved on: its publish_at put behind the stack's clock) the
`publish-scheduled` task publishes it, the fan-out runs, and the student's notification links to
the activity page, which shows the due date in the student's own time zone."""
from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from core.models import Activity
from tests.browser.test_pages import STUDENT, TEACHER, enrolled, log_in, teacher_class_id
from tests.sqsd import sqsd_headers
from tests.support.stack import Stack

pytestmark = pytest.mark.browser

TASK = "/sqsd/tasks/publish-scheduled"
FANOUT_TIMEOUT = 90  # seconds: the fan-out's whole run through the queue


def _run_publish_task(stack: Stack) -> dict:
    """POST the task to the worker as sqsd's cron does (its next tick would do the same)."""
    headers = {**sqsd_headers(), "X-Aws-Sqsd-Taskname": "publish-scheduled", "X-Aws-Sqsd-Path": TASK,
               "X-Aws-Sqsd-Scheduled-At": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    response = requests.post(stack.worker + TASK, headers=headers, data=b"", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _activity(stack: Stack, title: str) -> dict:
    with stack.engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, status, publish_at FROM activities WHERE title = :t"),
                                 {"t": title}).mappings().one())


def _student_notified(stack: Stack, activity_id: int) -> bool:
    with stack.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM notifications n JOIN users u ON u.id = n.user_id "
            "WHERE u.email = :e AND n.activity_id = :a"), {"e": STUDENT[0], "a": activity_id}).scalar_one() > 0


def _wait_for_zone(stack: Stack, email: str) -> None:
    """timezone.js sends the browser's zone from the first page a user without one opens."""
    deadline = time.monotonic() + 15
    while True:
        with stack.engine.connect() as conn:
            if conn.execute(sa.text("SELECT time_zone FROM users WHERE email = :e"), {"e": email}).scalar():
                return
        assert time.monotonic() < deadline, "the browser's time zone was never stored"
        time.sleep(0.2)


def test_a_scheduled_activity_goes_out_at_its_time(browser, stack: Stack):
    class_id = teacher_class_id(stack)
    students = enrolled(stack, class_id)
    title = f"Projeto {uuid.uuid4().hex[:6]}"

    teacher = browser.new_context(base_url=stack.web, locale="en-US", timezone_id="UTC")
    page: Page = teacher.new_page()
    try:
        log_in(page, TEACHER)
        page.goto(f"/teacher/classes/{class_id}/activities/new")
        page.fill("#title", title)
        page.fill("#description", "Brief: https://example.org/projeto")
        page.fill("#due_at", "2031-05-01T23:59")
        page.check("#when-later")
        page.fill("#publish_at", (datetime.now(UTC) + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M"))
        page.click("button#publish")
        expect(page.locator("#confirm-count")).to_contain_text(f"{students} student")
        page.click("button#confirm-publish")
        expect(page).to_have_url(re.compile(r"/activities/\d+$"))
        expect(page.locator("[data-activity-status]")).to_contain_text("Scheduled for")
    finally:
        teacher.close()
    activity = _activity(stack, title)
    assert activity["status"] == "scheduled"

    # Before its time: the task finds nothing to publish and the student cannot open it.
    assert _run_publish_task(stack)["published"] == 0
    student = browser.new_context(base_url=stack.web, locale="en-US", timezone_id="Europe/Madrid")
    page = student.new_page()
    try:
        log_in(page, STUDENT)
        assert page.goto(f"/activities/{activity['id']}").status == 404

        # The clock reaches its publish time: publish_at now lies behind it.
        with Session(stack.engine) as session, session.begin():
            session.execute(sa.update(Activity).where(Activity.id == activity["id"])
                            .values(publish_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert _run_publish_task(stack)["published"] == 1
        assert _activity(stack, title)["status"] == "published"
        deadline = time.monotonic() + FANOUT_TIMEOUT
        while not _student_notified(stack, activity["id"]):
            assert time.monotonic() < deadline, "the fan-out did not notify the student"
            time.sleep(0.5)

        _wait_for_zone(stack, STUDENT[0])
        page.goto("/notifications")
        link = page.locator("li[data-notification] a[data-link]", has_text=title)
        expect(link).to_have_attribute("href", f"/activities/{activity['id']}")
        link.click()
        expect(page).to_have_url(re.compile(rf"/activities/{activity['id']}$"))
        expect(page.locator("h1")).to_have_text(title)
        expect(page.locator("[data-my-status]")).to_have_text("Not submitted")
        # timezone.js stored the browser's zone on the first page: times are in Madrid's.
        expect(page.locator("[data-due]")).to_contain_text("2031-05-02 01:59 Europe/Madrid (CEST)")
        expect(page.locator("[data-description] a")).to_have_attribute("rel", "nofollow noopener noreferrer")
    finally:
        student.close()
