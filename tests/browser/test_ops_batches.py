"""The console's batches and workflows in real headless Chromium against the real local stack:
an operator finds the notification batch of a just-published activity, opens it and watches its
counters and follow-up reach the end live; follows an institution seed workflow step by step
without ever seeing its initial password; each found in the console's lists."""
from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from core.activities import batch_key
from tests.browser.test_pages import ADMIN, JOB_TIMEOUT_MS, TEACHER, log_in, teacher_class_id
from tests.support.stack import Stack

pytestmark = pytest.mark.browser

OPERATOR = ("operator@ops.aula.local", "aula-operator")


def _token(stack: Stack, who: tuple[str, str]) -> dict[str, str]:
    login = requests.post(stack.web + "/api/login", json={"email": who[0], "password": who[1]}, timeout=10)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


def _wait_for_batch(stack: Stack, activity_id: int) -> str:
    """The id of the activity's notification batch, once its fan-out job has created it."""
    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while True:
        with stack.engine.connect() as conn:
            found = conn.execute(sa.text("SELECT id FROM batches WHERE key = :k"),
                                 {"k": batch_key(activity_id)}).scalar()
        if found is not None:
            return str(uuid.UUID(str(found)))
        assert time.monotonic() < deadline, f"no batch for activity {activity_id}"
        time.sleep(0.5)


def test_an_operator_watches_a_batch_reach_its_followup(page: Page, stack: Stack, shoot):
    class_id = teacher_class_id(stack)
    title = f"Console batch {uuid.uuid4().hex[:6]}"
    published = requests.post(f"{stack.web}/api/classes/{class_id}/activities", headers=_token(stack, TEACHER),
                              json={"title": title, "description": "", "due_at": None}, timeout=10)
    assert published.status_code == 202, published.text

    activity_id = published.json()["activity"]["id"]
    batch_id = _wait_for_batch(stack, activity_id)

    log_in(page, OPERATOR)
    page.goto("/ops/batches")
    expect(page.locator("nav.ops-nav a[aria-current=page]")).to_have_text("Batches")
    page.locator(f'tr[data-batch="{batch_id}"] a').first.click()
    expect(page).to_have_url(re.compile(r"/ops/batches/[0-9a-f-]{36}$"))

    # The page follows the batch live: every unit settled, the follow-up enqueued and finished.
    total = page.locator('[data-count="total"]').inner_text()
    expect(page.locator('[data-count="pending"]')).to_have_text("0", timeout=JOB_TIMEOUT_MS)
    expect(page.locator('[data-count="succeeded"]')).to_have_text(total)
    expect(page.locator("[data-batch-state]")).to_have_text("completed")
    expect(page.locator("[data-batch-followup] .state")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    assert page.locator("tr[data-job]").count() >= 1
    expect(page.locator("[data-batch-followup] a")).to_have_attribute("href", re.compile(r"^/ops/jobs/"))
    shoot(page, "ops-batch")


def test_an_operator_follows_a_seed_workflow_without_seeing_its_password(page: Page, stack: Stack, shoot):
    password = f"segredo-{uuid.uuid4().hex}"
    slug = f"console-{uuid.uuid4().hex[:6]}"
    started = requests.post(f"{stack.web}/api/admin/seeds", headers=_token(stack, ADMIN), timeout=10,
                            json={"name": "Escola Console", "slug": slug, "students": 10, "initial_password": password})
    assert started.status_code == 202, started.text
    workflow_id = started.json()["workflow"]["id"]

    log_in(page, OPERATOR)
    page.goto("/ops/workflows?state=&name=seed_institution")
    expect(page.locator(f'tr[data-workflow="{workflow_id}"]')).to_be_visible()
    page.locator(f'tr[data-workflow="{workflow_id}"] a').first.click()
    expect(page).to_have_url(re.compile(rf"/ops/workflows/{workflow_id}$"))

    expect(page.locator("[data-workflow-state]")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("[data-workflow-steps-done]")).to_have_text("6")
    expect(page.locator("tr[data-step] [data-step-state]", has_text="succeeded")).to_have_count(6)
    for duration in page.locator("[data-step-duration]").all_inner_texts():
        assert duration.endswith(" s"), duration
    content = page.content()
    assert password not in content and "argon2" not in content and "[redacted]" in content
    shoot(page, "ops-workflow")
