"""The local sqsd's fault-injection option SQSD_DUPLICATE_DELIVERIES, on the command line
--duplicate-deliveries (used by `make chaos` R3): every received message is POSTed that many
times at once, and the daemon still deletes it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.sqsd import Sqsd
from devstack.sqsd_cli import parse_args
from infra.ebconfig import SqsdSettings
from tests.devstack.conftest import StubWorker, queue_is_empty, wait_until


def test_every_message_is_posted_three_times_concurrently_then_deleted(
        sqs: Any, queues: dict[str, str], worker: StubWorker, start_sqsd: Callable[..., Sqsd],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQSD_DUPLICATE_DELIVERIES", "3")
    # A slow answer keeps every copy in flight at once: they overlap only if they were sent together.
    worker.respond = lambda request, index: (200, 0.5)
    for n in range(4):
        sqs.send_message(QueueUrl=queues["queue_url"], MessageBody=f'{{"n": {n}}}')
    assert start_sqsd(queues["queue_url"], worker.url, http_connections=2).duplicate_deliveries == 3

    requests = worker.requests.wait_count(12, timeout=20)
    by_body = Counter(r.body for r in requests)
    assert by_body == {f'{{"n": {n}}}'.encode(): 3 for n in range(4)}
    # The copies of one message share its id: to the worker they are one message delivered thrice.
    assert Counter(Counter(r.headers["x-aws-sqsd-msgid"] for r in requests).values()) == {3: 4}
    # Two connections, three copies each: up to six POSTs at once, and at least one message's three.
    assert 3 <= worker.max_in_flight <= 6
    wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]))


def test_the_option_is_read_from_the_environment_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = SqsdSettings()
    monkeypatch.setenv("SQSD_DUPLICATE_DELIVERIES", "3")
    assert Sqsd("http://q", "http://w", settings, sqs_client=object()).duplicate_deliveries == 3
    monkeypatch.delenv("SQSD_DUPLICATE_DELIVERIES")
    assert Sqsd("http://q", "http://w", settings, sqs_client=object()).duplicate_deliveries == 1
    for bad in ("0", "11"):
        monkeypatch.setenv("SQSD_DUPLICATE_DELIVERIES", bad)
        with pytest.raises(ValueError, match="SQSD_DUPLICATE_DELIVERIES"):
            Sqsd("http://q", "http://w", settings, sqs_client=object())


def test_the_command_line_option_defaults_to_the_environment_and_is_bounded(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SQS_QUEUE_URL", "http://q")
    monkeypatch.delenv("SQSD_DUPLICATE_DELIVERIES", raising=False)
    assert parse_args([]).duplicate_deliveries == 1
    monkeypatch.setenv("SQSD_DUPLICATE_DELIVERIES", "3")
    assert parse_args([]).duplicate_deliveries == 3
    assert parse_args(["--duplicate-deliveries", "2"]).duplicate_deliveries == 2  # the option wins
    for bad in ("0", "11", "two"):
        with pytest.raises(SystemExit) as exited:
            parse_args(["--duplicate-deliveries", bad])
        assert exited.value.code == 2
        assert f"--duplicate-deliveries: a whole number from 1 to 10, not '{bad}'" in capsys.readouterr().err


def test_the_command_line_delivers_every_message_as_many_times_as_asked(
        sqs: Any, queues: dict[str, str], worker: StubWorker, moto_endpoint: str) -> None:
    env = {**os.environ, "SQS_QUEUE_URL": queues["queue_url"], "AWS_ENDPOINT_URL": moto_endpoint,
           "AWS_REGION": "us-east-1", "SQSD_WORKER_URL": worker.url, "SQSD_WAIT_TIME_SECONDS": "1",
           "SQSD_CRON": "0", "SQSD_DUPLICATE_DELIVERIES": "3", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "devstack.sqsd", "--duplicate-deliveries", "2"],
                               cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        sqs.send_message(QueueUrl=queues["queue_url"], MessageBody='{"n": 1}')
        requests = worker.requests.wait_count(2, timeout=20)
        wait_until(lambda: queue_is_empty(sqs, queues["queue_url"]), timeout=10)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0, stderr
        # Two copies (the option, not the environment's three), and never a third.
        assert len(worker.requests.items) == 2
        assert len({r.headers["x-aws-sqsd-msgid"] for r in requests}) == 1
        assert "every message delivered 2 times at once" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
