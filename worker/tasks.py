"""The periodic tasks that cron.yaml schedules, each declared in core/jobs/periodic.py and
implemented here, registered with `@periodic(DECLARATION)`. `problems()` lists declared tasks
without an implementation and implementations of undeclared tasks; the worker app refuses to
start unless it is empty (worker/registries.py).

sqsd may deliver two runs at once (a slow run overlapping the next tick, or a retried
delivery), so each run first takes a database lease on its task name (for the declared time);
a second copy finds it held and returns without doing anything. Every run is recorded
(core.jobs.periodic_runs): started, finished with its outcome and counts, or skipped; the
operations console shows them, and its "run now" (a `periodic_run` job) goes through the same
lease, so it cannot overlap a cron run either."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from core import db as core_db
from core.app import Services
from core.db import utcnow
from core.jobs import deadletters, lifecycle, outbox, periodic_runs
from core.jobs.periodic import (
    DEAD_LETTER_MONITOR,
    DIGESTS,
    PERIODIC_TASKS,
    PUBLISH_SCHEDULED,
    RECLAIM_STALLED,
    RELAY_OUTBOX,
    REMINDERS,
    RETENTION,
    PeriodicTaskType,
)
from core.jobs.types import JOB_TYPES
from worker import leases, retention
from worker.handlers.activities import publish_due

log = logging.getLogger(__name__)
Counts = dict[str, int | str]


@dataclass(frozen=True)
class PeriodicTask:
    declaration: PeriodicTaskType
    run: Callable[[Services], Counts]

    @property
    def lease(self) -> timedelta:
        return self.declaration.lease


TASKS: dict[str, PeriodicTask] = {}


def periodic(declaration: PeriodicTaskType) -> Callable[[Callable[[Services], Counts]], Callable[[Services], Counts]]:
    """Register the function that runs the declared periodic task."""
    if PERIODIC_TASKS.get(declaration.name) is not declaration:
        raise RuntimeError(f"cannot register periodic task {declaration.name!r}: core/jobs/periodic.py does not "
                           "declare it")

    def register(run: Callable[[Services], Counts]) -> Callable[[Services], Counts]:
        if declaration.name in TASKS:
            raise RuntimeError(f"periodic task {declaration.name!r} has two implementations: "
                               f"{TASKS[declaration.name].run.__qualname__} and {run.__qualname__}")
        TASKS[declaration.name] = PeriodicTask(declaration, run)
        return run

    return register


def problems(declared: Mapping[str, PeriodicTaskType] | None = None) -> list[str]:
    """Every mismatch between the declared periodic tasks and the registered ones, one line each."""
    declared = PERIODIC_TASKS if declared is None else declared
    found = [f"periodic task {name!r} is declared in core/jobs/periodic.py but has no implementation"
             for name in declared if name not in TASKS]
    found += [f"periodic task {task.run.__module__}.{task.run.__qualname__} is registered as {name!r}, "
              "which core/jobs/periodic.py does not declare"
              for name, task in TASKS.items() if declared.get(name) is not task.declaration]
    return found


def check_periodic() -> None:
    """Raise RuntimeError naming every mismatch that `problems()` finds."""
    found = problems()
    if found:
        raise RuntimeError("periodic tasks do not match core/jobs/periodic.py:\n  - " + "\n  - ".join(found))


@periodic(RELAY_OUTBOX)
def relay_outbox(services: Services) -> Counts:
    with services.db.sessions() as session:
        return {"sent": outbox.relay(session, services.queue)}


@periodic(RECLAIM_STALLED)
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


@periodic(DEAD_LETTER_MONITOR)
def monitor_dead_letters(services: Services) -> Counts:
    dlq_url = services.settings.sqs_dead_letter_queue_url
    queues = {"main": services.queue.queue_url, **({"dead": dlq_url} if dlq_url else {})}
    with services.db.sessions() as session:
        # The console's counts over time: one reading of each queue per pass.
        deadletters.record_depths(session, services.queue.sqs, queues, utcnow())
        if not dlq_url:
            return {"skipped": "SQS_DEAD_LETTER_QUEUE_URL is not set"}
        counts = deadletters.inspect(session, services.queue.sqs, dlq_url, utcnow())
    if counts["dead_letters"]:
        log.error("dead-letter queue holds %d messages (%d jobs marked); redrive with `python -m core redrive`",
                  counts["dead_letters"], counts["marked"], extra={"dead_letters": counts["dead_letters"]})
    return counts


@periodic(RETENTION)
def purge_old_records(services: Services) -> Counts:
    settings = services.settings
    with services.db.sessions() as session:
        return retention.purge(session, now=utcnow(), job_days=settings.job_retention_days,
                               notification_days=settings.notification_retention_days)


@periodic(PUBLISH_SCHEDULED)
def publish_scheduled(services: Services) -> Counts:
    with services.db.sessions() as session:
        # core.db.utcnow read through the module, so a test can move the clock.
        published = publish_due(session, core_db.utcnow())
        sent = outbox.flush(session, services.queue) if published else 0
    return {"published": published, "sent": sent}


@periodic(REMINDERS)
def start_reminders(services: Services) -> Counts:
    from worker.handlers.reminders import start_due_reminders

    with services.db.sessions() as session:
        counts = start_due_reminders(session, core_db.utcnow())  # through the module: a test's clock
        outbox.commit_and_send(session, services.queue)
    return counts


@periodic(DIGESTS)
def start_digests(services: Services) -> Counts:
    from worker.handlers.digests import start_digests as start

    with services.db.sessions() as session:
        counts = start(session, core_db.utcnow())
        outbox.commit_and_send(session, services.queue)
    return counts


def _holder() -> str:
    """Which process holds a lease, and which of its runs: "instance/pid#run"."""
    return f"{lifecycle.claimer()[:50]}#{uuid.uuid4().hex[:12]}"


def run_task(services: Services, name: str, trigger: str = "cron", requested_by: int | None = None) -> Counts:
    """Run the task under its lease and record the run. `trigger` is "cron" (sqsd's POST) or
    "manual" (the console's "run now", asked by user `requested_by`). An exception fails the
    run's record and is raised again, as before records existed."""
    task = TASKS[name]
    holder = _holder()
    with services.db.sessions() as session:
        if not leases.acquire(session, name, holder, task.lease, utcnow()):
            log.info("periodic task %s skipped: another run holds its lease", name)
            reason = "another run of this task is in progress"
            periodic_runs.skipped(session, name, trigger, requested_by, utcnow(), reason)
            return {"skipped": reason}
    run_id, outcome, counts, error = None, "failed", None, None
    try:
        with services.db.sessions() as session:
            run_id = periodic_runs.opened(session, name, trigger, requested_by, holder, utcnow())
        counts = task.run(services)
        outcome = "succeeded"
        return counts
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            if run_id is not None:
                with services.db.sessions() as session:
                    periodic_runs.closed(session, run_id, outcome, utcnow(), counts=counts, error=error)
        except Exception:
            # The record is not worth a failed run (sqsd would run it again): the lease below is.
            log.exception("periodic task %s: its run record %s could not be closed", name, run_id)
        with services.db.sessions() as session:
            leases.release(session, name, holder)
