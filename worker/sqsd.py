"""The HTTP side of the sqsd contract: job messages at HttpPath, periodic tasks under
TASKS_PREFIX. Header names follow the Elastic Beanstalk worker guide."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from core.app import json_error, services
from core.jobs.envelope import Envelope, EnvelopeError, UnsupportedVersion
from core.jobs.sqsd_paths import JOBS_PATH, TASKS_PREFIX
from core.logs import bind
from core.parsing import ascii_int
from worker.connections import connections
from worker.handlers import HANDLERS
from worker.runner import run_message
from worker.tasks import TASKS, run_task

log = logging.getLogger(__name__)
bp = Blueprint("sqsd", __name__)


def _bind_sqsd_headers() -> str | None:
    msgid = request.headers.get("X-Aws-Sqsd-Msgid")
    count = request.headers.get("X-Aws-Sqsd-Receive-Count", "")
    bind(sqsd_msgid=msgid, receive_count=ascii_int(count))
    return msgid


@bp.post(JOBS_PATH)
def receive_job():
    if not _bind_sqsd_headers():
        return json_error(400, "not an sqsd delivery: X-Aws-Sqsd-Msgid header missing")
    try:
        envelope = Envelope.parse(request.get_data())
    except UnsupportedVersion as exc:
        log.error("refused message: %s", exc)
        return json_error(422, str(exc))
    except EnvelopeError as exc:
        # Non-200 keeps the message: after MaxRetries it lands in the dead-letter queue,
        # where the alarm and an operator see it, instead of vanishing here.
        log.error("refused message: %s", exc)
        return json_error(400, str(exc))
    outcome = run_message(services(), envelope, HANDLERS, connections())
    return jsonify(outcome.body), outcome.status


@bp.post(TASKS_PREFIX + "/<name>")
def periodic_task(name: str):
    if not _bind_sqsd_headers():
        return json_error(400, "not an sqsd delivery: X-Aws-Sqsd-Msgid header missing")
    if name not in TASKS:
        return json_error(404, f"no periodic task named {name!r}")
    bind(task=name, scheduled_at=request.headers.get("X-Aws-Sqsd-Scheduled-At"))
    counts = run_task(services(), name)
    log.info("periodic task %s done: %s", name, counts)
    return jsonify({"task": name, **counts})
