"""A job's log lines, from CloudWatch Logs Insights (issue 11).

Every line written while a job runs carries its `job_id` (core/logs.py binds it per message), so
one Insights query by that field finds them, across every instance and process. The query
covers the job's own lifetime only (from a minute before it was created to a few minutes after it
finished, or now, and never more than MAX_WINDOW), and the request waits at most WAIT_SECONDS
for it, polling: Insights is asynchronous, and a console page must not hang on it. A query
still running then is stopped and answered "incomplete", with what it found so far.

Without CLOUDWATCH_LOG_GROUP (local development, tests) there is nothing to ask: the answer is
the exact query to run in the CloudWatch console or with `aws logs start-query`.
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from core.aws import AwsClients
from core.db import utcnow
from core.models import Job
from core.settings import Settings
from web.common.dates import iso
from web.common.ops.job_redaction import redact_text

log = logging.getLogger(__name__)
WAIT_SECONDS = 4.0
POLL_SECONDS = 0.5
MAX_WINDOW = timedelta(days=7)
BEFORE, AFTER = timedelta(minutes=1), timedelta(minutes=5)
LINES = 200
_CLIENT = "aula_ops_logs_client"


@dataclass
class JobLogs:
    configured: bool
    query: str
    log_group: str | None
    start: datetime
    end: datetime
    status: str  # "not_configured", "complete", "incomplete", "failed"
    lines: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def insights_query(job_id: str) -> str:
    # job_id is a UUID the caller parsed, so it is safe inside the query's quotes.
    return (f'fields @timestamp, level, message, attempt, @logStream\n| filter job_id = "{job_id}"\n'
            f"| sort @timestamp asc\n| limit {LINES}")


def window(job: Job, now: datetime) -> tuple[datetime, datetime]:
    start = job.created_at - BEFORE
    end = min((job.finished_at or now) + AFTER, now)
    return (max(start, end - MAX_WINDOW), max(end, start + timedelta(seconds=1)))


def _client(settings: Settings) -> Any:
    # Built once per app on first use (a client costs ~0.1 s to build); a race builds two, harmless.
    client = current_app.extensions.get(_CLIENT)
    if client is None:
        client = current_app.extensions[_CLIENT] = AwsClients(settings).client("logs", fast=True)
    return client


def job_logs(settings: Settings, job: Job, personal: bool, client: Any = None) -> JobLogs:
    now = utcnow()
    start, end = window(job, now)
    query = insights_query(str(job.id))
    group = settings.cloudwatch_log_group
    if not group:
        return JobLogs(False, query, None, start, end, "not_configured")
    answer = JobLogs(True, query, group, start, end, "incomplete")
    try:
        client = client or _client(settings)
        query_id = client.start_query(logGroupName=group, startTime=int(start.timestamp()),
                                      endTime=int(end.timestamp()), queryString=query, limit=LINES)["queryId"]
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            found = client.get_query_results(queryId=query_id)
            answer.lines = [_line(row, personal) for row in found.get("results", [])]
            if found.get("status") == "Complete":
                answer.status = "complete"
                break
            if found.get("status") in ("Failed", "Cancelled", "Timeout"):
                answer.status, answer.error = "failed", f"the query ended {found['status'].lower()}"
                break
            if time.monotonic() + POLL_SECONDS > deadline:
                with contextlib.suppress(Exception):  # it may have just finished
                    client.stop_query(queryId=query_id)  # nobody will read the rest
                break
            time.sleep(POLL_SECONDS)
    except Exception as exc:  # no permission, throttled, unreachable: say so, never a 500
        log.warning("CloudWatch Logs Insights query for job %s failed", job.id, exc_info=True)
        answer.status, answer.error = "failed", f"CloudWatch Logs did not answer: {type(exc).__name__}"
    return answer


def _line(row: list[dict[str, str]], personal: bool) -> dict[str, Any]:
    fields = {cell.get("field"): cell.get("value") for cell in row if cell.get("field") != "@ptr"}
    message = fields.get("message")
    return {"timestamp": fields.get("@timestamp"), "level": fields.get("level"), "attempt": fields.get("attempt"),
            "stream": fields.get("@logStream"),
            "message": None if message is None else redact_text(message, personal)}


def logs_json(logs: JobLogs) -> dict[str, Any]:
    return {"configured": logs.configured, "query": logs.query, "log_group": logs.log_group,
            "start": iso(logs.start), "end": iso(logs.end), "status": logs.status, "lines": logs.lines,
            "error": logs.error}
