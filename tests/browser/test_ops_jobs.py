"""The console's jobs in real headless Chromium against the real local stack: an operator finds a
failed job by filter, opens it, sees its attempts and lineage, reprocesses it and watches the copy
succeed through the queue; then bulk-reprocesses 500 failed jobs after a confirmation naming the
count, and follows the bulk job's progress bar to the end."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from core.db import utcnow
from core.models import Job, User
from core.models.ops import JobAttempt
from tests.browser.test_pages import JOB_TIMEOUT_MS, TEACHER, log_in
from tests.support.stack import Stack

pytestmark = pytest.mark.browser

OPERATOR = ("operator@ops.aula.local", "aula-operator")


def _failed_canaries(stack: Stack, count: int, marker: str) -> list[uuid.UUID]:
    """`count` canary jobs of the demo teacher that failed (as an outage would have left them),
    each with its one attempt; a canary's copy succeeds, so the reprocess can be watched."""
    now = utcnow()
    with Session(stack.engine) as session:
        owner = session.scalar(sa.select(User.id).where(User.email == TEACHER[0]))
        jobs = [Job(id=uuid.uuid4(), type="canary", payload={"note": marker}, owner_id=owner, state="failed",
                    attempts=1, error=f"{marker}: upstream unavailable", created_at=now - timedelta(minutes=10, seconds=n),
                    published_at=now - timedelta(minutes=10), started_at=now - timedelta(minutes=9),
                    finished_at=now - timedelta(minutes=9) + timedelta(seconds=1), claimed_by="i-test/1")
                for n in range(count)]
        session.add_all(jobs)
        session.flush()
        known = set(session.scalars(sa.select(JobAttempt.job_id).where(JobAttempt.job_id.in_([j.id for j in jobs]))))
        session.add_all([JobAttempt(job_id=j.id, attempt=1, started_at=j.started_at, finished_at=j.finished_at,
                                    outcome="failed", error=j.error, worker="i-test/1")
                         for j in jobs if j.id not in known])
        session.commit()
        return [j.id for j in jobs]


def test_an_operator_finds_a_failed_job_and_watches_its_reprocess_succeed(page: Page, stack: Stack, shoot):
    marker = f"outage-{uuid.uuid4().hex[:8]}"
    [job_id] = _failed_canaries(stack, 1, marker)
    log_in(page, OPERATOR)
    page.goto("/ops/jobs")
    expect(page.locator("nav.ops-nav a[aria-current=page]")).to_have_text("Jobs")
    page.select_option("#filter-state", "failed")
    page.select_option("#filter-type", "canary")
    page.fill("#filter-error", marker)
    page.click("#filter-apply")
    expect(page.locator("tr[data-job]")).to_have_count(1)
    expect(page.locator("#filter-error")).to_have_value(marker)  # the form keeps its values
    page.locator(f'tr[data-job="{job_id}"] a').first.click()
    expect(page).to_have_url(re.compile(rf"/ops/jobs/{job_id}$"))

    expect(page.locator("[data-job-state]")).to_have_text("failed")
    expect(page.locator('tr[data-attempt="1"]')).to_contain_text("upstream unavailable")
    expect(page.locator("[data-lineage-origin]")).to_contain_text("request")
    expect(page.locator("[data-insights-query]")).to_contain_text(str(job_id))
    shoot(page, "ops-job")

    page.once("dialog", lambda dialog: dialog.accept())  # the confirmation
    page.click("#reprocess-job")
    expect(page).not_to_have_url(re.compile(rf"/ops/jobs/{job_id}$"))
    expect(page.locator("[data-lineage-reprocess-of]")).to_contain_text(str(job_id)[:8])
    expect(page.locator("[data-job-state]")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    with stack.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT state FROM jobs WHERE id = :id"),
                            {"id": job_id if stack.engine.dialect.name == "postgresql" else job_id.hex}).scalar() == "failed"
    # The original's page lists the copy.
    page.goto(f"/ops/jobs/{job_id}")
    expect(page.locator("[data-lineage-copies] li")).to_have_count(1)


def test_an_operator_bulk_reprocesses_500_failed_jobs_and_follows_the_progress(page: Page, stack: Stack, shoot):
    marker = f"bulk-{uuid.uuid4().hex[:8]}"
    originals = _failed_canaries(stack, 500, marker)
    log_in(page, OPERATOR)
    page.goto(f"/ops/jobs?state=failed&type=canary&error={marker}")
    expect(page.locator("[data-job-total]")).to_have_text("500")
    page.click("#bulk-reprocess")
    expect(page.locator("h1")).to_have_text("Reprocess 500 jobs?")
    expect(page.locator("[data-bulk-filter]")).to_contain_text(marker)
    page.click("#bulk-confirm")
    expect(page).to_have_url(re.compile(r"/ops/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("#bulk-progress")).to_be_visible()
    expect(page.locator("[data-job-state]")).to_have_text("succeeded", timeout=JOB_TIMEOUT_MS)
    expect(page.locator("[data-bulk-done]")).to_have_text("500")
    expect(page.locator("[data-bulk-changed]")).to_have_text("500")
    shoot(page, "ops-bulk")
    with Session(stack.engine) as session:
        copies = session.scalars(sa.select(Job.reprocess_of_id).where(Job.reprocess_of_id.in_(originals))).all()
    assert sorted(copies) == sorted(originals)
