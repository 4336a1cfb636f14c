"""The periodic tasks that cron.yaml schedules, declared once: name (the last part of the task's
URL under /sqsd/tasks/, and cron.yaml's `name`), a label for people, and the lease a run holds.

In the shared package because more than the worker reads it: tests/deploy checks cron.yaml
against it, and the operations console lists the tasks. The worker registers one implementation
per task with `@periodic(DECLARATION)` (worker/tasks.py) and refuses to start if one is missing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class PeriodicTaskType:
    name: str
    label: str
    # Longer than a run can take, so a live run keeps its lease; a dead one frees it by then.
    lease: timedelta = timedelta(minutes=5)


RELAY_OUTBOX = PeriodicTaskType("relay-outbox", "Send the jobs that have no message yet (the outbox relay)")
RECLAIM_STALLED = PeriodicTaskType(
    "reclaim-stalled", "Requeue running jobs whose worker died; re-send due jobs whose message was lost")
DEAD_LETTER_MONITOR = PeriodicTaskType(
    "dead-letter-monitor", "Count the dead-letter queue and mark the jobs whose messages are there")
RETENTION = PeriodicTaskType(
    "retention", "Delete finished jobs and read notifications past their retention", lease=timedelta(minutes=30))

# Issue 13 (helper C1): scheduled activities whose publish_at has come go out.
PUBLISH_SCHEDULED = PeriodicTaskType(
    "publish-scheduled", "Publish the scheduled activities whose time has come and start their notifications")

# Issue 13 (helper C3): reminders 24 hours before a due date, and the daily digests at each user's
# local morning.
REMINDERS = PeriodicTaskType("reminders", "Remind students who have not submitted of activities due within 24 hours")
DIGESTS = PeriodicTaskType("digests", "Start the daily digests of the users whose local morning has come")

PERIODIC_TASKS: dict[str, PeriodicTaskType] = {
    task.name: task for task in (RELAY_OUTBOX, RECLAIM_STALLED, DEAD_LETTER_MONITOR, RETENTION, PUBLISH_SCHEDULED,
                                 REMINDERS, DIGESTS)
}
