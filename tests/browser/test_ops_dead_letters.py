"""The console's dead letters in real Chromium against the local stack: an operator finds a
dead-lettered job's message grouped under its type and error, redrives it from the page and
watches its job finish; the periodic tasks page lists cron.yaml's tasks and runs one now."""
from __future__ import annotations

import json
import re
import uuid

import boto3
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from core.db import utcnow
from core.models import Job
from tests.browser.test_ops_overview import OPERATOR
from tests.browser.test_pages import JOB_TIMEOUT_MS, log_in
from tests.support.stack import Stack

pytestmark = pytest.mark.browser
ERROR = "ran out of SES quota (browser test)"


def _sqs(stack: Stack):
    return boto3.client("sqs", endpoint_url=stack.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _dead_lettered_job(stack: Stack) -> uuid.UUID:
    """A canary job whose message SQS gave up on: in the dead-letter queue, the row still waiting."""
    job_id = uuid.uuid4()
    with stack.engine.begin() as conn:
        conn.execute(sa.insert(Job).values(id=job_id, type="canary", payload={}, state="queued", attempts=0,
                                           progress=0, trace_id=uuid.uuid4().hex, error=ERROR, origin="cli",
                                           created_at=utcnow(), published_at=utcnow()))
    body = json.dumps({"v": 1, "job_id": str(job_id), "type": "canary", "trace_id": ""})
    _sqs(stack).send_message(QueueUrl=stack.env["SQS_DEAD_LETTER_QUEUE_URL"], MessageBody=body)
    return job_id


def test_an_operator_redrives_a_dead_letter_from_the_page_and_sees_its_job_finish(page: Page, stack: Stack, shoot):
    job_id = _dead_lettered_job(stack)
    log_in(page, OPERATOR)
    page.goto("/ops/dead-letters")
    expect(page.locator("h1")).to_have_text("Dead letters")
    group = page.locator('fieldset[data-group="job"][data-type="canary"]', has_text=ERROR)
    expect(group).to_be_visible()
    row = group.locator(f'tr[data-job="{job_id}"]')
    expect(row.locator(f'a[href="/ops/jobs/{job_id}"]')).to_be_visible()
    expect(page.locator('[data-depth="visible"]')).not_to_have_text("0")
    page.locator("#depth-heading").evaluate("heading => heading.closest('section').scrollIntoView()")
    shoot(page, "ops-dead-letters")

    row.locator("input[data-select]").check()
    page.click("#redrive-selected")
    expect(page.locator("[data-notice]")).to_contain_text("Moved 1 message back to the worker queue")
    followed = page.locator(f'li[data-followed="{job_id}"] [data-followed-state]')
    # The live part follows the redriven job until the worker has run it.
    expect(followed).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    with stack.engine.connect() as conn:
        state, dead = conn.execute(sa.select(Job.state, Job.dead_lettered_at).where(Job.id == job_id)).one()
    assert state == "succeeded" and dead is None
    expect(page.locator(f'tr[data-job="{job_id}"]')).to_have_count(0)


def test_the_periodic_tasks_page_lists_the_tasks_and_runs_one_now(page: Page, stack: Stack):
    log_in(page, OPERATOR)
    page.goto("/ops/periodic")
    task = page.locator('section[data-task="reclaim-stalled"]')
    expect(task.locator("[data-schedule]")).to_have_text("* * * * *")
    expect(task.locator("[data-next-run]")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:00$"))
    task.locator("[data-run-now]").click()
    expect(page.locator("[data-notice]")).to_contain_text("reclaim-stalled will run shortly")
    with stack.engine.connect() as conn:
        asked = conn.execute(sa.select(Job.id).where(Job.type == "periodic_run")).scalars().all()
    assert len(asked) == 1
    # The run appears among the latest runs, manual, once the worker took it.
    runs = page.locator('section[data-task="reclaim-stalled"] table[data-runs] tbody tr', has_text="manual")
    expect(runs.first).to_be_attached(timeout=JOB_TIMEOUT_MS)
