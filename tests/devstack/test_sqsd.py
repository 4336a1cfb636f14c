"""devstack.sqsd against a real moto server and a scripted worker: does it behave like EB's sqsd?"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devstack.sqsd import Sqsd
from devstack.sqsd_protocol import latest_tick
from tests.devstack.conftest import Recorder, StubWorker, queue_is_empty, receive_counts, script, wait_until
from tests.support.servers import free_port

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_ordinary_message_gets_the_real_header_set(sqs: Any, queues: dict[str, str], worker: StubWorker,
                                                   start_sqsd: Callable[..., Sqsd]) -> None:
    queue_url = queues["queue_url"]
    sent = sqs.send_message(QueueUrl=queue_url, MessageBody='{"job": "x"}', MessageAttributes={
        "tenant": {"DataType": "String", "StringValue": "school-1"},
        "priority": {"DataType": "Number", "StringValue": "5"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "beanstalk.sqsd.internal": {"DataType": "String", "StringValue": "hidden"},
    })
    start_sqsd(queue_url, worker.url, mime_type="application/x-aula")

    (request,) = worker.requests.wait_count(1)
    headers = request.headers
    assert (request.path, request.body) == ("/sqsd/jobs", b'{"job": "x"}')
    assert headers["user-agent"] == "aws-sqsd/2.4"
    assert headers["content-type"] == "application/x-aula"
    assert headers["x-aws-sqsd-msgid"] == sent["MessageId"]
    assert headers["x-aws-sqsd-queue"] == queue_url.rsplit("/", 1)[-1]
    assert headers["x-aws-sqsd-receive-count"] == "1"
    assert ISO_Z.match(headers["x-aws-sqsd-first-received-at"])
    assert ISO_Z.match(headers["x-aws-sqsd-sent-at"])
    assert headers["x-aws-sqsd-sender-id"]
    assert headers["x-aws-sqsd-path"] == ""
    assert headers["x-aws-sqsd-attr-tenant"] == "school-1"
    assert headers["x-aws-sqsd-attr-priority"] == "5"
    assert not {"x-aws-sqsd-attr-blob", "x-aws-sqsd-attr-beanstalk.sqsd.internal", "x-aws-sqsd-taskname",
                "x-aws-sqsd-scheduled-at"} & headers.keys()
    wait_until(lambda: queue_is_empty(sqs, queue_url))


def test_only_exactly_200_deletes(sqs: Any, queues: dict[str, str], worker: StubWorker,
                                  start_sqsd: Callable[..., Sqsd], deliveries: Recorder) -> None:
    worker.respond = script(204, 201, 200)
    sent = sqs.send_message(QueueUrl=queues["queue_url"], MessageBody="{}")
    start_sqsd(queues["queue_url"], worker.url)

    deliveries.wait_for(lambda items: any(d.outcome == "deleted" for d in items))
    assert receive_counts(worker) == ["1", "2", "3"]
    assert {r.headers["x-aws-sqsd-msgid"] for r in worker.requests.items} == {sent["MessageId"]}
    assert [(d.status, d.outcome) for d in deliveries.items] == [(204, "retry"), (201, "retry"), (200, "deleted")]
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))


def test_error_status_is_retried_after_error_visibility_timeout(sqs: Any, queues: dict[str, str],
                                                                worker: StubWorker,
                                                                start_sqsd: Callable[..., Sqsd]) -> None:
    worker.respond = script(500, 200)
    sqs.send_message(QueueUrl=queues["queue_url"], MessageBody="{}")
    start_sqsd(queues["queue_url"], worker.url, error_visibility_timeout=1)  # VisibilityTimeout stays 30

    first, second = worker.requests.wait_count(2)
    # Not before ErrorVisibilityTimeout (1 s), and long before VisibilityTimeout (30 s) would allow.
    assert second.at - first.at >= 0.95
    assert receive_counts(worker) == ["1", "2"]
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))


def test_connection_refused_is_retried(sqs: Any, queues: dict[str, str], make_worker: Callable[..., StubWorker],
                                       start_sqsd: Callable[..., Sqsd], deliveries: Recorder) -> None:
    port = free_port()  # nothing listens here yet
    sqs.send_message(QueueUrl=queues["queue_url"], MessageBody="{}")
    start_sqsd(queues["queue_url"], f"http://127.0.0.1:{port}")

    refused = deliveries.wait_count(2)
    assert all(d.status is None and "ConnectionError" in d.error and d.outcome == "retry" for d in refused)
    assert [d.receive_count for d in refused[:2]] == [1, 2]

    worker = make_worker(port)  # the worker comes up: the same message now gets through
    (request,) = worker.requests.wait_count(1)
    assert int(request.headers["x-aws-sqsd-receive-count"]) >= 3
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))


def test_silent_worker_is_abandoned_after_inactivity_timeout(sqs: Any, queues: dict[str, str], worker: StubWorker,
                                                            start_sqsd: Callable[..., Sqsd],
                                                            deliveries: Recorder) -> None:
    worker.respond = lambda request, index: (200, 30.0) if index == 0 else (200, 0.0)
    sqs.send_message(QueueUrl=queues["queue_url"], MessageBody="{}")
    start_sqsd(queues["queue_url"], worker.url, inactivity_timeout=1)

    timed_out, ok = deliveries.wait_count(2)
    assert timed_out.status is None and timed_out.error.startswith("timeout") and timed_out.outcome == "retry"
    assert 0.9 <= timed_out.elapsed < 5
    assert (ok.receive_count, ok.status, ok.outcome) == (2, 200, "deleted")
    assert worker.in_flight == 1  # the first POST is still hanging in the worker: it was abandoned, not answered
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))


def test_http_connections_bounds_concurrent_posts(sqs: Any, queues: dict[str, str], worker: StubWorker,
                                                  start_sqsd: Callable[..., Sqsd]) -> None:
    worker.respond = script(200, delay=0.4)
    for n in range(10):
        sqs.send_message(QueueUrl=queues["queue_url"], MessageBody=f'{{"n": {n}}}')
    start_sqsd(queues["queue_url"], worker.url, http_connections=3)

    requests = worker.requests.wait_count(10, timeout=15)
    assert sorted(r.body for r in requests) == sorted(f'{{"n": {n}}}'.encode() for n in range(10))
    assert worker.max_in_flight == 3
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))


def test_max_retries_moves_message_to_dead_letter_queue(sqs: Any, make_queues: Callable[..., dict[str, str]],
                                                       worker: StubWorker, start_sqsd: Callable[..., Sqsd]) -> None:
    queues = make_queues(max_retries=2)
    worker.respond = script(500)
    sent = sqs.send_message(QueueUrl=queues["queue_url"], MessageBody='{"doomed": true}')
    start_sqsd(queues["queue_url"], worker.url)

    def dead_lettered() -> list[dict[str, Any]]:
        return sqs.receive_message(QueueUrl=queues["dead_letter_queue_url"], WaitTimeSeconds=0,
                                   MessageSystemAttributeNames=["All"]).get("Messages", [])

    found: list[dict[str, Any]] = []
    wait_until(lambda: bool(found.extend(dead_lettered()) or found))
    assert (found[0]["MessageId"], found[0]["Body"]) == (sent["MessageId"], '{"doomed": true}')
    assert receive_counts(worker) == ["1", "2"]  # MaxRetries POSTs, then SQS moved it
    assert queue_is_empty(sqs, queues["queue_url"])


def test_message_older_than_retention_period_is_deleted_unposted(sqs: Any, queues: dict[str, str],
                                                                worker: StubWorker, start_sqsd: Callable[..., Sqsd],
                                                                deliveries: Recorder) -> None:
    sqs.send_message(QueueUrl=queues["queue_url"], MessageBody="{}")
    start_sqsd(queues["queue_url"], worker.url, retention_period=60, clock=lambda: time.time() + 61)

    (delivery,) = deliveries.wait_count(1)
    assert (delivery.outcome, delivery.url) == ("expired", None)
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))
    assert worker.requests.items == []


def test_latest_tick_is_at_or_before_now() -> None:
    at = datetime(2030, 1, 1, 12, 1, 0, tzinfo=UTC)
    assert latest_tick("* * * * *", at) == at
    assert latest_tick("* * * * *", at.replace(second=59, microsecond=900000)) == at
    assert latest_tick("*/5 * * * *", at) == at.replace(minute=0)


def test_waits_for_a_queue_that_does_not_exist_yet(sqs: Any, queues: dict[str, str], worker: StubWorker,
                                                   start_sqsd: Callable[..., Sqsd],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="devstack.sqsd")
    late_url = queues["queue_url"] + "-late"
    start_sqsd(late_url, worker.url)
    wait_until(lambda: "waiting for queue" in caplog.text)

    sqs.create_queue(QueueName=late_url.rsplit("/", 1)[-1])
    sqs.send_message(QueueUrl=late_url, MessageBody="{}")
    worker.requests.wait_count(1)
    wait_until(lambda: queue_is_empty(sqs, late_url))


def test_command_line_delivers_and_exits_cleanly_on_sigterm(sqs: Any, queues: dict[str, str], worker: StubWorker,
                                                            moto_endpoint: str) -> None:
    env = {**os.environ, "SQS_QUEUE_URL": queues["queue_url"], "AWS_ENDPOINT_URL": moto_endpoint,
           "AWS_REGION": "us-east-1", "SQSD_WORKER_URL": worker.url, "SQSD_WAIT_TIME_SECONDS": "1",
           "SQSD_CRON": "0", "SQSD_HTTP_PATH": "/from-env", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "devstack.sqsd", "--http-connections", "2"], cwd=REPO_ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        sqs.send_message(QueueUrl=queues["queue_url"], MessageBody="{}")
        (request,) = worker.requests.wait_count(1, timeout=15)
        assert request.path == "/from-env"
        wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "2 connections" in stderr and "200 in" in stderr and "deleted" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
