"""devstack.sqsd_cron, the local sqsd's cron.yaml leader, through the daemon against a real moto
server and a scripted worker: the leader's message, its delivery, the schedule on the UTC minute."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devstack.sqsd import Sqsd
from devstack.sqsd_protocol import SCHEDULED_BODY
from infra.ebconfig import CronTask
from tests.devstack.conftest import Received, Recorder, StubWorker, queue_is_empty, receive_counts, script, wait_until

TASK = CronTask("relay-outbox", "/sqsd/tasks/relay-outbox", "* * * * *")


def test_fire_task_sends_the_leader_message(sqs: Any, queues: dict[str, str],
                                            start_sqsd: Callable[..., Sqsd]) -> None:
    daemon = start_sqsd(queues["queue_url"], "http://127.0.0.1:9", cron=[TASK], start=False)
    message_id = daemon.fire_task(TASK.name, datetime(2030, 1, 2, 3, 4, tzinfo=UTC))

    (message,) = sqs.receive_message(QueueUrl=queues["queue_url"], MessageAttributeNames=["All"])["Messages"]
    assert (message["MessageId"], message["Body"]) == (message_id, SCHEDULED_BODY)
    assert {k: v["StringValue"] for k, v in message["MessageAttributes"].items()} == {
        "beanstalk.sqsd.path": "/sqsd/tasks/relay-outbox",
        "beanstalk.sqsd.task_name": "relay-outbox",
        "beanstalk.sqsd.scheduled_time": "2030-01-02T03:04:00Z",
    }


def test_periodic_task_is_posted_to_its_url_without_body(sqs: Any, queues: dict[str, str], worker: StubWorker,
                                                         start_sqsd: Callable[..., Sqsd],
                                                         deliveries: Recorder) -> None:
    worker.respond = script(204, 200)  # exact-200 applies to tasks too
    daemon = start_sqsd(queues["queue_url"], worker.url, cron=[TASK])
    daemon.fire_task(TASK.name, datetime(2030, 1, 2, 3, 4, tzinfo=UTC))

    first, second = worker.requests.wait_count(2)
    for request in (first, second):
        assert (request.path, request.body) == ("/sqsd/tasks/relay-outbox", b"")
        assert request.headers["content-length"] == "0"
        assert request.headers["x-aws-sqsd-taskname"] == "relay-outbox"
        assert request.headers["x-aws-sqsd-scheduled-at"] == "2030-01-02T03:04:00Z"
        assert request.headers["x-aws-sqsd-path"] == "/sqsd/tasks/relay-outbox"
        assert request.headers["user-agent"] == "aws-sqsd/2.4"
        assert not any(name.startswith("x-aws-sqsd-attr-") for name in request.headers)
    assert receive_counts(worker) == ["1", "2"]
    deliveries.wait_for(lambda items: [d.outcome for d in items] == ["retry", "deleted"])
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))


def test_scheduler_fires_on_the_utc_minute_and_allows_overlap(sqs: Any, queues: dict[str, str], worker: StubWorker,
                                                              start_sqsd: Callable[..., Sqsd]) -> None:
    minute = (int(time.time()) // 60 + 1) * 60  # next real minute, so retention ages stay sane
    now = [minute - 0.5]
    second_arrived = threading.Event()

    def respond(request: Received, index: int) -> tuple[int, float]:
        # The first run stays busy until the next tick's run has arrived: overlap is then certain.
        if index == 0:
            second_arrived.wait(10)
        else:
            second_arrived.set()
        return 200, 0.0

    worker.respond = respond
    start_sqsd(queues["queue_url"], worker.url, cron=[TASK], clock=lambda: now[0])

    now[0] = minute + 0.2  # the tick at `minute` is due
    worker.requests.wait_count(1)
    now[0] = minute + 60.2  # the next tick, while the first run is still busy in the worker
    requests = worker.requests.wait_count(2)
    expected = [datetime.fromtimestamp(minute + s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for s in (0, 60)]
    assert [r.headers["x-aws-sqsd-scheduled-at"] for r in requests] == expected
    assert worker.max_in_flight == 2  # no overlap protection, like the real leader
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))
