"""What the local sqsd sends: the header set, URL and body of each POST, as the real sqsd 2.0
builds them (see shared/reference/eb-worker-facts.md), and the cron.yaml tick arithmetic.
devstack/sqsd.py is the daemon that uses them."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from infra.ebconfig import SqsdSettings

USER_AGENT = "aws-sqsd/2.4"  # the version seen in real captures
SCHEDULED_BODY = "elasticbeanstalk scheduled job"
ATTR_PATH = "beanstalk.sqsd.path"
ATTR_TASK_NAME = "beanstalk.sqsd.task_name"
ATTR_SCHEDULED_TIME = "beanstalk.sqsd.scheduled_time"
MAX_BATCH = 10  # SQS ReceiveMessage limit
MISSED_TICK_GRACE = 300  # v2.0 re-sends a missed tick only within this many seconds


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery attempt: passed to `on_delivery` and logged."""

    message_id: str
    receive_count: int
    url: str | None  # None when the message expired without a POST
    status: int | None  # None when no HTTP response arrived
    error: str | None
    elapsed: float
    outcome: str  # "deleted", "retry" or "expired"


def iso_utc(moment: float | datetime | str) -> str:
    """UTC ISO 8601 with Z and whole seconds, as Ruby's Time#utc.iso8601 prints it.

    A string is parsed first (and passed through unchanged if it is not ISO 8601).
    """
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_request(message: Mapping[str, Any], queue_url: str, worker_url: str,
                  settings: SqsdSettings) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and body of the POST for one received SQS message."""
    attrs = message.get("Attributes", {})
    mattrs = message.get("MessageAttributes", {})
    task_path = mattrs.get(ATTR_PATH, {}).get("StringValue")
    headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": settings.mime_type,
        "X-Aws-Sqsd-Msgid": message["MessageId"],
        "X-Aws-Sqsd-Receive-Count": attrs.get("ApproximateReceiveCount", ""),
        "X-Aws-Sqsd-First-Received-At": iso_utc(int(attrs.get("ApproximateFirstReceiveTimestamp", 0)) / 1000),
        "X-Aws-Sqsd-Sent-At": iso_utc(int(attrs.get("SentTimestamp", 0)) / 1000),
        "X-Aws-Sqsd-Queue": queue_url.rstrip("/").rsplit("/", 1)[-1],
        "X-Aws-Sqsd-Path": task_path or "",
        "X-Aws-Sqsd-Sender-Id": attrs.get("SenderId", ""),
    }
    for name, value in mattrs.items():
        # v2.0 forwards String/Number (incl. custom String.x types), drops Binary and its own attributes.
        if name.startswith("beanstalk.sqsd.") or not value.get("DataType", "").startswith(("String", "Number")):
            continue
        headers[f"X-Aws-Sqsd-Attr-{name}"] = value.get("StringValue", "")
    scheduled = mattrs.get(ATTR_SCHEDULED_TIME, {}).get("StringValue")
    if scheduled is None:
        return worker_url.rstrip("/") + settings.http_path, headers, message.get("Body", "").encode("utf-8")
    # A periodic task: POST to the task's own URL with no body (v2.0 keys this on scheduled_time).
    headers["X-Aws-Sqsd-Scheduled-At"] = iso_utc(scheduled)  # v2.0 re-formats the leader's time
    headers["X-Aws-Sqsd-Taskname"] = mattrs.get(ATTR_TASK_NAME, {}).get("StringValue", "")
    return worker_url.rstrip("/") + (task_path or settings.http_path), headers, b""


def latest_tick(schedule: str, now: datetime) -> datetime:
    """The last time at or before `now` matching `schedule` (ticks fall on whole minutes)."""
    return croniter(schedule, now.replace(microsecond=0) + timedelta(seconds=1)).get_prev(datetime)
