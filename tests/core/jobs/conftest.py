"""An SQS that hangs, for the outbox sender's tests: a gate (tests/core/jobs/gate.py) holds each
connection, so a real boto3 call through it blocks for as long as the test wants (or never
returns), then goes through to moto, or fails when the gate closes."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from tests.core.jobs.gate import Gate


@pytest.fixture
def moto_server(aws) -> Iterator[tuple[str, int]]:
    """moto over HTTP, for other processes (and for the gate): in this process it shares the
    in-process mock's state, so what a child sends through it is on the `aws` fixture's queue."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()
    finally:
        server.stop()


@pytest.fixture
def hung_sqs() -> Iterator[Gate]:
    """An SQS endpoint that accepts connections and never answers, until the test ends."""
    gate = Gate()
    try:
        yield gate
    finally:
        gate.close()
