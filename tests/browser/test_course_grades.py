"""Browser test (issue 13, item 3): the teacher grades a student from the grades page; the worker
notifies the student; the student sees the grade on their grades page, and the email they got
links to the activity's page (absolute, under PUBLIC_BASE_URL) and carries an unsubscribe link
whose page asks before it changes anything."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tests.support.stack import Stack

pytestmark = pytest.mark.browser

TEACHER = ("teacher@aula.local", "aula-teacher")
STUDENT = ("student01@aula.local", "aula-student")
MAIL_TIMEOUT_S = 90


def log_in(page: Page, who: tuple[str, str]) -> None:
    page.goto("/login")
    page.fill("#email", who[0])
    page.fill("#password", who[1])
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/login"))


def _stored(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _published_activity(stack: Stack) -> tuple[int, int, int]:
    """An activity published to the demo teacher's class of student01 (as if published long ago,
    so no fan-out runs for it): (activity id, class id, student id)."""
    now = datetime.now(UTC)
    with stack.engine.begin() as conn:
        class_id, student_id = conn.execute(sa.text(
            "SELECT c.id, s.id FROM classes c JOIN users t ON t.id = c.teacher_id "
            "JOIN enrollments e ON e.class_id = c.id JOIN users s ON s.id = e.student_id "
            "WHERE t.email = :t AND s.email = :s"), {"t": TEACHER[0], "s": STUDENT[0]}).first()
        activity_id = conn.execute(sa.text(
            "INSERT INTO activities (class_id, title, description, due_at, published_at, created_at, status, "
            "allow_late) VALUES (:c, 'Lista para nota', '', :due, :now, :now, 'published', 0) RETURNING id"),
            # As UTCDateTime stores them on SQLite (the stack's database): naive UTC.
            {"c": class_id, "due": _stored(now + timedelta(days=2)), "now": _stored(now)}).scalar_one()
    return activity_id, class_id, student_id


def _grade_email(mailbox: Path, to: str) -> object:
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while time.monotonic() < deadline:
        for path in sorted(mailbox.glob("*.eml")):
            message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if message["To"] == to and str(message["Subject"]).startswith("Graded in"):
                return message
        time.sleep(0.5)
    raise AssertionError(f"no grade email to {to} in {mailbox} within {MAIL_TIMEOUT_S} s")


def test_the_teacher_grades_the_student_sees_it_and_the_email_links_to_it(page: Page, stack: Stack, shoot):
    activity_id, class_id, student_id = _published_activity(stack)

    log_in(page, TEACHER)
    page.goto(f"/activities/{activity_id}/grades")
    row = page.locator(f"tr[data-student='{student_id}']")
    row.locator("input[name=score]").fill("87.5")
    row.locator("textarea[name=feedback]").fill("Muito bem: revise o exercício 3.")
    row.locator("button[type=submit]").click()
    expect(page.locator(f"tr[data-student='{student_id}'] [data-saved]")).to_be_visible()
    expect(page.locator(f"tr[data-student='{student_id}']")).to_have_attribute("data-state", "graded")
    shoot(page, "grades-teacher")

    message = _grade_email(Path(stack.env["MAIL_MAILBOX_DIR"]), STUDENT[0])
    text = message.get_body(("plain",)).get_content()
    assert "87.5/100" in text and "revise o exercício 3" in text
    link = re.search(r"https?://\S+/activities/\d+", text).group(0)
    assert link == f"{stack.env['PUBLIC_BASE_URL']}/activities/{activity_id}"
    unsubscribe = re.search(r"https?://\S+/unsubscribe/\S+", text).group(0)
    assert str(message["List-Unsubscribe"]).strip() == f"<{unsubscribe}>"

    page.context.clear_cookies()
    log_in(page, STUDENT)
    page.goto(f"/classes/{class_id}/grades")
    graded = page.locator(f"tr[data-activity='{activity_id}']")
    expect(graded).to_have_attribute("data-state", "graded")
    expect(graded.locator("[data-score]")).to_have_text("87.5 / 100")
    shoot(page, "grades-student")
    page.goto(link)  # the email's link leads to the activity
    expect(page).to_have_url(re.compile(rf"/activities/{activity_id}$"))
    expect(page.get_by_text("Lista para nota").first).to_be_visible()

    # The unsubscribe link's page asks first; nothing is off until the button is pressed.
    page.goto(unsubscribe)
    expect(page.locator("[data-unsubscribe-kinds]")).to_contain_text("My work was graded")
    page.click("[data-unsubscribe-form] button")
    expect(page.locator("[data-unsubscribed]")).to_be_visible()
    with stack.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT channel FROM notification_preferences WHERE user_id = :u AND "
                                    "kind = 'grade_posted'"), {"u": student_id}).scalar_one() == "off"
