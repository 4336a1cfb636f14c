"""The local sqsd's fault-injection option SQSD_DUPLICATE_DELIVERIES (used by `make chaos` R3):
every received message is POSTed that many times at once, and the daemon still deletes it."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from devstack.sqsd import Sqsd
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
