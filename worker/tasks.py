"""Periodic tasks that cron.yaml schedules. sqsd may deliver two runs at once (a slow run
overlapping the next tick, or a retried delivery), so each run first takes a database lease
on its task name; a second copy finds it held and returns without doing anything."""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from core.app import Services
from core.db import utcnow
from core.jobs import deadletters, leases, lifecycle, outbox, retention
from core.jobs.types import JOB_TYPES

log = logging.getLogger(__name__)
Counts = dict[str, int | str]


def relay_outbox(services: Services) -> Counts:
    with services.db.sessions() as session:
        return {"sent": outbox.relay(session, services.queue)}


def reclaim_stalled(services: Services) -> Counts:
    with services.db.sessions() as session:
        now = utcnow()
        reclaimed = lifecycle.reclaim_stalled(session, JOB_TYPES, now)
        # Reclaiming may fail a batch child or workflow step and so enqueue what follows.
        outbox.flush(session, services.queue)
        # Due jobs whose message is gone would otherwise wait for ever: back to the outbox,
        # for the relay below to send again.
        resent = outbox.unpublish_lost(session, now)
        sent = outbox.relay(session, services.queue) if reclaimed or resent else 0
    return {"reclaimed": reclaimed, "resent": resent, "sent": sent}


def monitor_dead_letters(services: Services) -> Counts:
    dlq_url = services.settings.sqs_dead_letter_queue_url
    if not dlq_url:
        return {"skipped": "SQS_DEAD_LETTER_QUEUE_URL is not set"}
    with services.db.sessions() as session:
        counts = deadletters.inspect(session, services.queue.sqs, dlq_url, utcnow())
    if counts["dead_letters"]:
        log.error("dead-letter queue holds %d messages (%d jobs marked); redrive with `python -m core redrive`",
                  counts["dead_letters"], counts["marked"], extra={"dead_letters": counts["dead_letters"]})
    return counts


def purge_old_records(services: Services) -> Counts:
    settings = services.settings
    with services.db.sessions() as session:
        return retention.purge(session, now=utcnow(), job_days=settings.job_retention_days,
                               notification_days=settings.notification_retention_days)


@dataclass(frozen=True)
class PeriodicTask:
    run: Callable[[Services], Counts]
    # Longer than a run can take, so a live run keeps its lease; a dead one frees it by then.
    lease: timedelta = timedelta(minutes=5)


TASKS: dict[str, PeriodicTask] = {
    "relay-outbox": PeriodicTask(relay_outbox),
    "reclaim-stalled": PeriodicTask(reclaim_stalled),
    "dead-letter-monitor": PeriodicTask(monitor_dead_letters),
    "retention": PeriodicTask(purge_old_records, lease=timedelta(minutes=30)),
}


def run_task(services: Services, name: str) -> Counts:
    task = TASKS[name]
    holder = uuid.uuid4().hex
    with services.db.sessions() as session:
        if not leases.acquire(session, name, holder, task.lease, utcnow()):
            log.info("periodic task %s skipped: another run holds its lease", name)
            return {"skipped": "another run of this task is in progress"}
    try:
        return task.run(services)
    finally:
        with services.db.sessions() as session:
            leases.release(session, name, holder)
