"""The local sqsd's cron.yaml leader: at each task's tick it enqueues the message the real
leader sends (the scheduled-job body and the sqsd attributes), which the daemon then delivers
like any other (devstack/sqsd.py). A tick older than MISSED_TICK_GRACE (the daemon was stopped
or the clock jumped) is skipped, not caught up, as the real leader does."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from croniter import croniter

from devstack.sqsd_protocol import (
    ATTR_PATH,
    ATTR_SCHEDULED_TIME,
    ATTR_TASK_NAME,
    MISSED_TICK_GRACE,
    SCHEDULED_BODY,
    iso_utc,
    latest_tick,
)
from infra.ebconfig import CronTask

log = logging.getLogger("devstack.sqsd")


class CronLeader:
    def __init__(self, sqs: Any, queue_url: str, tasks: Sequence[CronTask], now: Callable[[], datetime]) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.tasks = list(tasks)
        self._now = now
        self._due: dict[str, datetime] = {}

    def begin(self) -> None:
        """Fix each task's first due time now (not in the loop's thread, so a test moving the
        clock after the daemon's start() cannot race with them)."""
        self._due = {task.name: croniter(task.schedule, self._now()).get_next(datetime) for task in self.tasks}

    def fire(self, name: str, scheduled_at: datetime | None = None) -> str:
        """Enqueue one run of task `name` exactly as the leader does; returns the message id."""
        task = next((t for t in self.tasks if t.name == name), None)
        if task is None:
            raise KeyError(f"no periodic task named {name!r}")
        when = scheduled_at or self._now().replace(microsecond=0)
        response = self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=SCHEDULED_BODY, MessageAttributes={
            ATTR_PATH: {"DataType": "String", "StringValue": task.url},
            ATTR_TASK_NAME: {"DataType": "String", "StringValue": task.name},
            ATTR_SCHEDULED_TIME: {"DataType": "String", "StringValue": iso_utc(when)},
        })
        log.info("scheduled %s for %s as %s", task.name, iso_utc(when), response["MessageId"])
        return response["MessageId"]

    def loop(self, stop: threading.Event, tick_seconds: float) -> None:
        # Every tick enqueues a message, even if the previous run is still going: the real leader
        # has no overlap protection either.
        due = self._due
        while not stop.wait(tick_seconds):
            now = self._now()
            for task in self.tasks:
                if now < due[task.name]:
                    continue
                tick = latest_tick(task.schedule, now)
                if (now - tick).total_seconds() <= MISSED_TICK_GRACE:
                    try:
                        self.fire(task.name, tick)
                    except (BotoCoreError, ClientError) as exc:
                        log.warning("could not enqueue %s for %s: %s", task.name, iso_utc(tick), exc)
                else:
                    log.warning("skipped %s: tick %s is older than %ds", task.name, iso_utc(tick), MISSED_TICK_GRACE)
                due[task.name] = croniter(task.schedule, now).get_next(datetime)
