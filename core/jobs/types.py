"""Every job type, declared once: its payload, policy and label (the contract is in
core/jobs/contract.py). The web tier submits these payloads; the worker registers one handler
per declaration (worker/handlers/) and refuses to start if one is missing or unknown.

Every time limit must stay under gunicorn's worker timeout (gunicorn.conf.py); the timeout
chain test reads both.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.jobs.contract import Id, JobType, Payload
from core.reports import ReportFormat, ReportKind


class ReportPayload(Payload):
    kind: ReportKind
    class_id: Id
    format: ReportFormat = "csv"


class EmailPayload(Payload):
    """One email to one user. `context` holds ids only: the template's loader reads the rest
    when the job runs. The effect key names the email's meaning (this activity, this student),
    so even a second job for the same email does not send it again."""

    template: Literal["activity_published"]
    to_user_id: Id
    context: dict[str, int] = Field(default_factory=dict)
    effect_key: str | None = None


class ActivityFanoutPayload(Payload):
    activity_id: Id


class BatchSummary(Payload):
    """Added to a batch's follow-up payload by the transaction that completes the batch."""

    batch_id: str
    total: int
    succeeded: int
    failed: int


class ActivitySummaryPayload(Payload):
    activity_id: Id
    teacher_id: Id
    summary: BatchSummary | None = None


class CanaryPayload(Payload):
    """A job that does nothing but succeed: proof that the whole path (outbox, SQS, sqsd, the
    worker's claim and record) works, after a deploy or in `make bench`'s worker overhead."""

    note: str | None = Field(default=None, max_length=200)


class WorkflowStepPayload(Payload):
    workflow: str
    step: str


REPORT = JobType("report", ReportPayload, "Report", time_limit_seconds=300, max_attempts=4,
                 backoff_base_seconds=15, coalesce=True)
# SES throttling clears in seconds to minutes; a bounced address never does (permanent).
EMAIL = JobType("email", EmailPayload, "Email", time_limit_seconds=60, max_attempts=6, backoff_base_seconds=30,
                backoff_cap_seconds=1800)
ACTIVITY_FANOUT = JobType("activity_fanout", ActivityFanoutPayload, "Activity notifications", time_limit_seconds=120)
ACTIVITY_SUMMARY = JobType("activity_summary", ActivitySummaryPayload, "Activity summary", time_limit_seconds=60)
WORKFLOW_STEP = JobType("workflow_step", WorkflowStepPayload, "Workflow step", time_limit_seconds=300, max_attempts=3,
                        backoff_base_seconds=20)

CANARY = JobType("canary", CanaryPayload, "Canary", time_limit_seconds=10, max_attempts=3, backoff_base_seconds=5)

JOB_TYPES: dict[str, JobType] = {
    t.name: t for t in (REPORT, EMAIL, ACTIVITY_FANOUT, ACTIVITY_SUMMARY, WORKFLOW_STEP, CANARY)
}


def job_type(name: str) -> JobType:
    """The declaration of a job type by name (KeyError for an unknown name)."""
    return JOB_TYPES[name]
