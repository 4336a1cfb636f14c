"""The pages in real headless Chromium against the real local stack (see conftest.py): a teacher
publishes an activity and watches its notification batch reach the summary; a student sees the
notification and the unread count and marks it read; a teacher asks for an XLSX report, watches
its progress bar and downloads a file that opens; an admin seeds an institution and watches the
workflow. Each scenario also takes the README's screenshot of its page (`shoot`)."""
from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from core.models import SchoolClass
from core.reports import grades_table, roster_table
from tests.support.stack import Stack

pytestmark = pytest.mark.browser

TEACHER = ("teacher@aula.local", "aula-teacher")
STUDENT = ("student01@aula.local", "aula-student")
ADMIN = ("admin@aula.local", "aula-admin")
JOB_TIMEOUT_MS = 90_000  # a job's whole run through the queue: sqsd long-polls, the worker runs it
PAGE_SIZE = 20  # the lists' default page size (web.common.pagination.DEFAULT_SIZE)


def log_in(page: Page, who: tuple[str, str], shoot=None) -> None:
    page.goto("/login")
    page.fill("#email", who[0])
    page.fill("#password", who[1])
    if shoot is not None:
        shoot(page, "login")
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))


def teacher_class_id(stack: Stack) -> int:
    with stack.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT c.id FROM classes c JOIN users u ON u.id = c.teacher_id WHERE u.email = :e"), {"e": TEACHER[0]}
        ).scalar_one()


def unread_of(stack: Stack, email: str) -> int:
    with stack.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM notifications n JOIN users u ON u.id = n.user_id "
            "WHERE u.email = :e AND n.read_at IS NULL"), {"e": email}).scalar_one()


def enrolled(stack: Stack, class_id: int) -> int:
    with stack.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM enrollments WHERE class_id = :c"), {"c": class_id}).scalar_one()


def test_a_teacher_publishes_an_activity_and_sees_the_batch_reach_its_summary(page: Page, stack: Stack, shoot):
    class_id = teacher_class_id(stack)
    students = enrolled(stack, class_id)
    log_in(page, TEACHER, shoot)
    expect(page).to_have_url(re.compile(r"/teacher/classes$"))
    page.locator("a[data-class-link]", has_text="MAT-101").click()
    expect(page).to_have_url(re.compile(rf"/teacher/classes/{class_id}$"))

    # The students list shows one page, never the whole class.
    expect(page.locator("[data-student-total]")).to_have_text(str(students))
    assert students > PAGE_SIZE
    expect(page.locator("tr[data-student]")).to_have_count(PAGE_SIZE)
    expect(page.locator("a[data-page-next]")).to_be_visible()
    shoot(page, "teacher-class")
    page.click("a[data-page-next]")
    expect(page.locator("tr[data-student]")).to_have_count(min(PAGE_SIZE, students - PAGE_SIZE))
    page.fill("#q", "student01@")
    page.press("#q", "Enter")
    expect(page.locator("tr[data-student]")).to_have_count(1)
    expect(page.locator("tr[data-student]")).to_contain_text("student01@aula.local")

    page.goto(f"/teacher/classes/{class_id}")
    page.click("a#publish-activity")
    title = f"Lista de exercícios {uuid.uuid4().hex[:6]}"
    page.fill("#title", title)
    page.fill("#description", "Capítulo 3, exercícios 1 a 12.")
    page.fill("#due_at", "2031-05-01T23:59")
    page.click("button#publish")
    # The confirmation names how many students will be emailed.
    expect(page.locator("button#confirm-publish")).to_contain_text("Publish and email")
    page.click("button#confirm-publish")
    expect(page).to_have_url(re.compile(r"/teacher/activities/\d+$"))

    # The page polls the activity until the batch is complete and the summary has arrived.
    summary = page.locator("[data-summary]")
    expect(summary).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(summary).to_contain_text(title)
    expect(page.locator("[data-batch-total]")).to_have_text(str(students))
    expect(page.locator("[data-batch-sent]")).to_have_text(str(students))
    expect(page.locator("[data-batch-failed]")).to_have_text("0")
    bar = page.locator("progress[data-batch-progress]")
    assert int(bar.get_attribute("value")) == int(bar.get_attribute("max")) == students
    shoot(page, "activity-progress")


def _publish_through_the_api(stack: Stack, class_id: int, title: str) -> None:
    login = requests.post(stack.web + "/api/login", json={"email": TEACHER[0], "password": TEACHER[1]}, timeout=10)
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    response = requests.post(f"{stack.web}/api/classes/{class_id}/activities", headers=headers, timeout=10,
                             json={"title": title, "description": "Leia o capítulo 4.", "due_at": None})
    assert response.status_code == 202, response.text
    activity_id = response.json()["activity"]["id"]
    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while True:
        body = requests.get(f"{stack.web}/api/activities/{activity_id}", headers=headers, timeout=10).json()
        if body["finished"]:
            return
        assert time.monotonic() < deadline, f"the fan-out of activity {activity_id} did not finish: {body}"
        time.sleep(0.5)


def test_a_student_sees_the_notification_and_the_unread_count_and_marks_it_read(page: Page, stack: Stack, shoot):
    title = f"Leitura {uuid.uuid4().hex[:6]}"
    _publish_through_the_api(stack, teacher_class_id(stack), title)
    unread = unread_of(stack, STUDENT[0])
    assert unread >= 1

    log_in(page, STUDENT)
    expect(page).to_have_url(re.compile(r"/student/classes$"))
    badge = page.locator("[data-unread-count]")
    expect(badge).to_have_text(str(unread))
    page.locator("a[data-class-link]", has_text="MAT-101").click()
    expect(page.locator("li[data-activity]", has_text=title)).to_have_count(1)

    page.goto("/notifications")
    mine = page.locator("li[data-notification]", has_text=title)
    expect(mine).to_have_count(1)
    expect(mine).to_have_attribute("data-read", "false")
    expect(mine).to_contain_text("MAT-101")
    shoot(page, "student-inbox")

    mine.locator("button[data-mark-read]").click()
    expect(page.locator("li[data-notification]", has_text=title)).to_have_attribute("data-read", "true")
    expect(badge).to_have_text(str(unread - 1))
    assert unread_of(stack, STUDENT[0]) == unread - 1

    page.click("a#filter-unread")
    expect(page).to_have_url(re.compile(r"unread=1"))
    expect(page.locator("li[data-notification]", has_text=title)).to_have_count(0)
    expect(page.locator('li[data-notification][data-read="true"]')).to_have_count(0)
    page.click("button#mark-all-read")
    expect(badge).to_have_text("0")
    expect(page.locator("li[data-notification]")).to_have_count(0)
    assert unread_of(stack, STUDENT[0]) == 0


@pytest.mark.parametrize("kind", ["class_grades"])
def test_a_teacher_asks_for_an_xlsx_report_watches_the_bar_and_downloads_a_file_that_opens(
        page: Page, stack: Stack, shoot, tmp_path: Path, kind: str):
    class_id = teacher_class_id(stack)
    log_in(page, TEACHER)
    page.goto(f"/teacher/classes/{class_id}")
    page.select_option("select#report-kind", kind)
    page.select_option("select#report-format", "xlsx")
    page.click("button#request-report")
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))

    # Watch the bar: it only moves forward, and ends full when the job has succeeded.
    bar = page.locator("progress[data-job-progress]")
    expect(bar).to_be_visible()
    seen = [int(bar.get_attribute("value"))]
    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while page.locator("[data-job-state]").inner_text().strip() != "succeeded":
        assert page.locator("[data-job-state]").inner_text().strip() in ("queued", "running", "retrying")
        assert time.monotonic() < deadline, "the report job did not finish"
        page.wait_for_timeout(200)
        seen.append(int(bar.get_attribute("value")))
    seen.append(int(bar.get_attribute("value")))
    assert seen == sorted(seen) and seen[-1] == 100, seen
    link = page.locator("a[data-download]")
    expect(link).to_be_visible()
    shoot(page, "job")

    with page.expect_download(timeout=30_000) as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx"), download.suggested_filename
    path = tmp_path / download.suggested_filename
    download.save_as(path)

    workbook = load_workbook(path, read_only=True)  # read-only keeps the file open until close()
    try:
        rows = [list(row) for row in workbook.active.iter_rows(values_only=True)]
    finally:
        workbook.close()
    with Session(stack.engine) as db:
        school_class = db.get(SchoolClass, class_id)
        expected = (grades_table if kind == "class_grades" else roster_table)(db, school_class)
    assert rows[0] == expected.columns
    assert len(rows) - 1 == len(expected.rows) == enrolled(stack, class_id)
    assert rows[1:] == [list(r) for r in expected.rows]

    # The job is also in the teacher's list of jobs.
    page.goto("/jobs")
    expect(page.locator("tr[data-job]").first).to_be_visible()


def test_an_admin_seeds_an_institution_and_watches_the_workflow(page: Page, stack: Stack, shoot):
    log_in(page, ADMIN)
    expect(page).to_have_url(re.compile(r"/admin$"))
    slug = f"escola-{uuid.uuid4().hex[:6]}"
    page.fill("#name", "Escola Browser")
    page.fill("#slug", slug)
    page.fill("#students", "40")
    page.fill("#initial_password", "uma-senha-longa-o-bastante")
    page.click("button#start-seed")
    expect(page).to_have_url(re.compile(r"/admin/workflows/[0-9a-f-]{36}$"))

    state = page.locator("[data-workflow-state]")
    expect(state).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    steps = page.locator("li[data-step]")
    assert steps.count() == 6
    expect(page.locator('li[data-step][data-state="succeeded"]')).to_have_count(6)
    shoot(page, "admin-workflow")
    with stack.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM institutions WHERE slug = :s"), {"s": slug}).scalar_one() == 1
