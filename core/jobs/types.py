"""Every job type, declared once: its payload, policy and label (the contract is in
core/jobs/contract.py). The web tier submits these payloads; the worker registers one handler
per declaration (worker/handlers/) and refuses to start if one is missing or unknown.

Every time limit must stay under gunicorn's worker timeout (gunicorn.conf.py); the timeout
chain test reads both.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from core.jobs.contract import Id, JobType, Payload
from core.jobs.ops_jobs_filter import JobFilter
from core.reports import ReportFormat, ReportKind
from core.submissions import MAX_FILES


class ReportPayload(Payload):
    kind: ReportKind
    class_id: Id
    format: ReportFormat = "csv"


class EmailPayload(Payload):
    """One email to one user: what the fan-out enqueued before `email_chunk` existed (rows and
    messages of that release still run; the worker sends it as a chunk of one). `context` holds
    ids only: the template's loader reads the rest when the job runs. The effect key names the
    email's meaning (this activity, this student), so even a second job for the same email does
    not send it again."""

    template: Literal["activity_published"]
    to_user_id: Id
    context: dict[str, int] = Field(default_factory=dict)
    effect_key: str | None = None


# Recipients per `email_chunk` job: the fan-out sends an activity's emails in jobs of this many,
# so a class of 200 costs 4 messages, POSTs and claims instead of 200. One job sends its emails
# one by one (SES's SendBulkEmail takes only templates stored in SES; ours are Jinja, rendered
# per recipient), well inside its time limit even at a slow SES.
EMAIL_CHUNK_SIZE = 50
# The most one chunk may carry: room for a larger chunk size later without refusing rows queued
# under this one.
EMAIL_CHUNK_MAX = 200


class EmailRecipient(Payload):
    """One recipient of a chunk, with the effect key that names this one email (this activity,
    this student): recorded once sent, so no job sends it again."""

    to_user_id: Id
    effect_key: str = Field(min_length=1, max_length=200)


class EmailChunkPayload(Payload):
    """The same email to each of a chunk of users, each recipient with its own effect key.
    `context` holds ids only, as for EmailPayload."""

    template: Literal["activity_published"]
    context: dict[str, int] = Field(default_factory=dict)
    recipients: list[EmailRecipient] = Field(min_length=1, max_length=EMAIL_CHUNK_MAX)

    @model_validator(mode="after")
    def _distinct_keys(self) -> EmailChunkPayload:
        if len({r.effect_key for r in self.recipients}) != len(self.recipients):
            raise ValueError("each recipient needs its own effect_key")
        return self

    @classmethod
    def batch_units(cls, stored: Mapping[str, Any]) -> int:
        """A chunk stands for each of its recipients in its batch (core/jobs/batches.py), so the
        batch counts emails, not jobs."""
        recipients = stored.get("recipients")
        return len(recipients) if isinstance(recipients, list) and recipients else 1


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


class PeriodicRunPayload(Payload):
    """The console's "run now" of a periodic task (core/jobs/periodic.py names them); the job's
    owner is the operator who asked."""

    task: str = Field(min_length=1, max_length=64)


class WorkflowStepPayload(Payload):
    workflow: str
    step: str


class OpsBulkPayload(Payload):
    """A bulk action of the operations console (worker/handlers/ops_bulk.py): reprocess or cancel
    every job matching `filter` that was created before `until` (when the operator asked), so
    the action's own copies and jobs created since are not part of it."""

    action: Literal["reprocess", "cancel"]
    filter: JobFilter
    until: str = Field(max_length=40)
    expected_count: int | None = Field(default=None, ge=0)


class SubmissionCheckPayload(Payload):
    """Check the pending files of one submission (worker/handlers/submissions.py), after handing
    back `release`: the keys of verified files a resubmission dropped, tagged unclaimed again so
    the bucket's lifecycle expires them like any upload never handed in."""

    submission_id: Id
    release: list[str] = Field(default_factory=list, max_length=MAX_FILES)


class SubmissionsZipPayload(Payload):
    """Every submission of an activity as one ZIP, for its teacher."""

    activity_id: Id


class GradePostedPayload(Payload):
    """One change of a student's score (worker/handlers/grades.py): notify them in the app and by
    email per their preferences. `graded_at` (ISO 8601) names the change, so a later change makes
    this one moot and the same change twice notifies once."""

    activity_id: Id
    student_id: Id
    graded_at: str = Field(min_length=1, max_length=40)


# Students per reminder or digest chunk, as for the activity's emails.
NOTIFY_CHUNK_SIZE = 50


class ReminderChunkPayload(Payload):
    """Remind these students of the activity due within 24 hours, each unless they have
    submitted by the time the chunk runs (worker/handlers/reminders.py)."""

    activity_id: Id
    student_ids: list[Id] = Field(min_length=1, max_length=EMAIL_CHUNK_MAX)

    @classmethod
    def batch_units(cls, stored: Mapping[str, Any]) -> int:
        ids = stored.get("student_ids")
        return len(ids) if isinstance(ids, list) and ids else 1


class DigestRecipient(Payload):
    user_id: Id
    local_date: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class DigestChunkPayload(Payload):
    """The daily digest of each of these users for their local date (worker/handlers/digests.py)."""

    recipients: list[DigestRecipient] = Field(min_length=1, max_length=EMAIL_CHUNK_MAX)

    @classmethod
    def batch_units(cls, stored: Mapping[str, Any]) -> int:
        recipients = stored.get("recipients")
        return len(recipients) if isinstance(recipients, list) and recipients else 1


class ActivityNoticePayload(Payload):
    """Email the students told in the app that an activity changed or was withdrawn
    (worker/handlers/activity_notices.py), per their `activity_changed` channel. Without
    `student_ids`, the fan-out: it starts a batch of these with the ids, a chunk each."""

    activity_id: Id
    notice: Literal["changed", "unpublished"]
    student_ids: list[Id] | None = Field(default=None, min_length=1, max_length=EMAIL_CHUNK_MAX)

    @classmethod
    def batch_units(cls, stored: Mapping[str, Any]) -> int:
        ids = stored.get("student_ids")
        return len(ids) if isinstance(ids, list) and ids else 1


class RosterImportPayload(Payload):
    """Import the roster CSV stored at `key` into the class (worker/handlers/roster.py); with
    `dry_run`, only report what it would do."""

    class_id: Id
    key: str = Field(min_length=1, max_length=300, pattern=r"^roster-imports/[0-9]+/[0-9a-f]{32}\.csv$")
    dry_run: bool = False


class InvitationChunkPayload(Payload):
    """Email each of these invitations its link (worker/handlers/roster.py), each once; the
    class, if any, is the one the import enrolled them in (named in the email)."""

    class_id: Id | None = None
    invitation_ids: list[Id] = Field(min_length=1, max_length=EMAIL_CHUNK_MAX)

    @classmethod
    def batch_units(cls, stored: Mapping[str, Any]) -> int:
        ids = stored.get("invitation_ids")
        return len(ids) if isinstance(ids, list) and ids else 1


REPORT = JobType("report", ReportPayload, "Report", time_limit_seconds=300, max_attempts=4,
                 backoff_base_seconds=15, coalesce=True)
# SES throttling clears in seconds to minutes; a bounced address never does (permanent).
EMAIL = JobType("email", EmailPayload, "Email", time_limit_seconds=60, max_attempts=6, backoff_base_seconds=30,
                backoff_cap_seconds=1800)
# A new type rather than a wider EmailPayload: during a rolling deploy a worker still on the
# previous release answers a type it does not know with 422, and sqsd brings the message back
# for an updated worker; given a wider `email` payload it would have failed the job for good,
# 50 emails at once.
EMAIL_CHUNK = JobType("email_chunk", EmailChunkPayload, "Emails", time_limit_seconds=120, max_attempts=6,
                      backoff_base_seconds=30, backoff_cap_seconds=1800)
ACTIVITY_FANOUT = JobType("activity_fanout", ActivityFanoutPayload, "Activity notifications", time_limit_seconds=120)
ACTIVITY_SUMMARY = JobType("activity_summary", ActivitySummaryPayload, "Activity summary", time_limit_seconds=60)
WORKFLOW_STEP = JobType("workflow_step", WorkflowStepPayload, "Workflow step", time_limit_seconds=300, max_attempts=3,
                        backoff_base_seconds=20)
# A manual run of a periodic task, through the task's own lease (worker/tasks.py run_task), so it
# cannot overlap a cron run. Coalesces: a second "run now" while one is open returns that job (the
# console keys it by the task alone, whoever asks). One attempt: an operator asks again.
PERIODIC_RUN = JobType("periodic_run", PeriodicRunPayload, "Periodic task run", time_limit_seconds=300,
                       max_attempts=1, coalesce=True)

CANARY = JobType("canary", CanaryPayload, "Canary", time_limit_seconds=10, max_attempts=3, backoff_base_seconds=5)
# Chunked and checkpointed: a run that reaches its time limit (100,000 rows) is retried and goes
# on from its last chunk, so the attempts allow a long walk, not only failures.
OPS_BULK = JobType("ops_bulk", OpsBulkPayload, "Bulk action", time_limit_seconds=300, max_attempts=20,
                   backoff_base_seconds=2, backoff_cap_seconds=60)

# Reads each new file of a submission from S3 once (at most 10 files of SUBMISSION_MAX_BYTES).
SUBMISSION_CHECK = JobType("submission_check", SubmissionCheckPayload, "Submission check", time_limit_seconds=120,
                           max_attempts=5, backoff_base_seconds=10)
# Coalesces: asking again while a ZIP is being built returns that job.
SUBMISSIONS_ZIP = JobType("submissions_zip", SubmissionsZipPayload, "Submissions ZIP", time_limit_seconds=300,
                          max_attempts=4, backoff_base_seconds=15, coalesce=True)

GRADE_POSTED = JobType("grade_posted", GradePostedPayload, "Grade notification", time_limit_seconds=60,
                        max_attempts=6, backoff_base_seconds=30, backoff_cap_seconds=1800)
REMINDER_CHUNK = JobType("reminder_chunk", ReminderChunkPayload, "Reminders", time_limit_seconds=120,
                         max_attempts=6, backoff_base_seconds=30, backoff_cap_seconds=1800)
DIGEST_CHUNK = JobType("digest_chunk", DigestChunkPayload, "Daily digests", time_limit_seconds=120,
                       max_attempts=6, backoff_base_seconds=30, backoff_cap_seconds=1800)

# A new type, not email_chunk with more templates: a worker of the previous release answers an
# unknown type with 422 (sqsd brings the message back), where a wider payload would fail it.
ACTIVITY_NOTICE = JobType("activity_notice", ActivityNoticePayload, "Activity change emails", time_limit_seconds=120,
                          max_attempts=6, backoff_base_seconds=30, backoff_cap_seconds=1800)

# Roster import (issue 13, item 8): 10,000 rows in bulk statements take well under a minute; one
# transaction, so a retry starts clean.
ROSTER_IMPORT = JobType("roster_import", RosterImportPayload, "Roster import", time_limit_seconds=300,
                        max_attempts=3, backoff_base_seconds=15)
INVITATION_CHUNK = JobType("invitation_chunk", InvitationChunkPayload, "Invitations", time_limit_seconds=120,
                           max_attempts=6, backoff_base_seconds=30, backoff_cap_seconds=1800)

JOB_TYPES: dict[str, JobType] = {
    t.name: t for t in (REPORT, EMAIL, EMAIL_CHUNK, ACTIVITY_FANOUT, ACTIVITY_SUMMARY, WORKFLOW_STEP, CANARY, OPS_BULK,
                        PERIODIC_RUN, SUBMISSION_CHECK, SUBMISSIONS_ZIP,
                        GRADE_POSTED, REMINDER_CHUNK, DIGEST_CHUNK, ROSTER_IMPORT, INVITATION_CHUNK, ACTIVITY_NOTICE)
}


def job_type(name: str) -> JobType:
    """The declaration of a job type by name (KeyError for an unknown name)."""
    return JOB_TYPES[name]
