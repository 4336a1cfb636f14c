"""Fixtures for the devstack tests: one moto server, AWS resources per test, a scripted worker, sqsd."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from devstack.aws_bootstrap import bootstrap
from devstack.sqsd import Sqsd
from infra.ebconfig import CronTask, SqsdSettings
from tests.support.servers import moto_server

REGION = "us-east-1"
# Small but realistic: a failed message comes back at once, a lost one only after 30 s, so a test
# that sees a quick redelivery knows sqsd changed the visibility itself.
FAST_SETTINGS = SqsdSettings(http_path="/sqsd/jobs", http_connections=4, connect_timeout=1, inactivity_timeout=5,
                             visibility_timeout=30, error_visibility_timeout=0)


class Recorder:
    """A list that tests can wait on: `wait_for(predicate)` instead of sleeping."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cond = threading.Condition()

    def append(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 10.0) -> list[Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.items), timeout=timeout):
                raise AssertionError(f"condition not met within {timeout}s; have {self.items!r}")
            return list(self.items)

    def wait_count(self, count: int, timeout: float = 10.0) -> list[Any]:
        return self.wait_for(lambda items: len(items) >= count, timeout)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = field(default_factory=time.monotonic)


class StubWorker:
    """Threaded HTTP server standing in for the worker app: records requests, answers as scripted.

    `respond(request, index)` returns (status, delay seconds); the default answers 200 at once.
    """

    def __init__(self, port: int = 0) -> None:
        self.requests = Recorder()
        self.respond: Callable[[Received, int], tuple[int, float]] = lambda request, index: (200, 0.0)
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._closing.set()  # cut scripted delays short
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        worker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with worker._lock:
                    index = len(worker.requests.items)
                    worker.in_flight += 1
                    worker.max_in_flight = max(worker.max_in_flight, worker.in_flight)
                worker.requests.append(request)
                status, delay = worker.respond(request, index)
                worker._closing.wait(delay)
                with worker._lock:  # before answering, so a follow-up POST can never overlap this one
                    worker.in_flight -= 1
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # sqsd gave up on us (InactivityTimeout)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update({k: v or "testing" for k, v in saved.items()})
    try:
        with moto_server() as url:
            yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def sqs(moto_endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def make_queues(moto_endpoint: str) -> Callable[..., dict[str, str]]:
    """Bootstrap uniquely named resources, so tests sharing the moto server never see each other."""

    def make(max_retries: int = 10) -> dict[str, str]:
        suffix = uuid.uuid4().hex[:10]
        return bootstrap(moto_endpoint, REGION, f"jobs-{suffix}", f"jobs-{suffix}-dlq", f"bucket-{suffix}",
                         None, max_retries, wait_timeout=10)

    return make


@pytest.fixture
def queues(make_queues: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_queues()


@pytest.fixture
def make_worker() -> Iterator[Callable[..., StubWorker]]:
    workers: list[StubWorker] = []

    def make(port: int = 0) -> StubWorker:
        workers.append(StubWorker(port))
        return workers[-1]

    yield make
    for worker in workers:
        worker.close()


@pytest.fixture
def worker(make_worker: Callable[..., StubWorker]) -> StubWorker:
    return make_worker()


@pytest.fixture
def deliveries() -> Recorder:
    return Recorder()


@pytest.fixture
def start_sqsd(moto_endpoint: str, deliveries: Recorder) -> Iterator[Callable[..., Sqsd]]:
    """Start an in-process sqsd with FAST_SETTINGS (fields overridable); every one is stopped after the test."""
    daemons: list[Sqsd] = []

    def start(queue_url: str, worker_url: str, *, cron: list[CronTask] | None = None,
              clock: Callable[[], float] = time.time, start: bool = True, **changes: Any) -> Sqsd:
        settings = replace(FAST_SETTINGS, **changes)
        daemon = Sqsd(queue_url, worker_url, settings, cron=cron or [], endpoint_url=moto_endpoint, region=REGION,
                      wait_time_seconds=1, clock=clock, cron_tick=0.05, retry_interval=0.2, shutdown_grace=3,
                      on_delivery=deliveries.append)
        daemons.append(daemon)
        if start:
            daemon.start()
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()


def script(*statuses: int, delay: float = 0.0) -> Callable[[Received, int], tuple[int, float]]:
    """Answer the n-th request with statuses[n] (the last one repeats)."""
    return lambda request, index: (statuses[min(index, len(statuses) - 1)], delay)


def receive_counts(worker: StubWorker) -> list[str]:
    return [r.headers["x-aws-sqsd-receive-count"] for r in worker.requests.items]


def queue_is_empty(sqs: Any, queue_url: str) -> bool:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)

