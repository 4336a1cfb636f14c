"""A local Elastic Beanstalk worker daemon (sqsd) that behaves like the real one.

It long-polls the worker queue and POSTs each message to the worker app with the real header set,
deletes a message only on status exactly 200, and otherwise makes it visible again after
ErrorVisibilityTimeout. It is also the cron.yaml leader (devstack/sqsd_cron.py): it enqueues
periodic-task messages the way the real leader does and delivers them like the real consumer.
Dead-lettering after MaxRetries is done by SQS itself through the queue's RedrivePolicy (see
devstack.aws_bootstrap).

Behaviour follows the public copy of AWS's sqsd 2.0 (see shared/reference/eb-worker-facts.md).
Run `python -m devstack.sqsd --help` for the command line.

Fault injection (`make chaos`, docs/reliability.md): SQSD_DUPLICATE_DELIVERIES=N or
--duplicate-deliveries N (default 1) POSTs every received message N times at once, as SQS's at-least-once delivery may hand the same
message to several consumers together; each copy is answered, deleted or retried on its own.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from devstack.sqsd_cron import CronLeader
from devstack.sqsd_protocol import MAX_BATCH, Delivery, build_request
from infra.ebconfig import (
    CronTask,
    SqsdSettings,
)

log = logging.getLogger("devstack.sqsd")

REPO_ROOT = Path(__file__).resolve().parents[1]


class Sqsd:
    """The daemon. `start()`/`stop()` for tests, `run(stop_event)` for a blocking caller.

    `clock` (epoch seconds) drives the RetentionPeriod check and the cron schedule, so tests can
    move time; `fire_task` enqueues a periodic task now, as the leader does at a tick.
    """

    def __init__(self, queue_url: str, worker_url: str, settings: SqsdSettings, *,
                 cron: Sequence[CronTask] = (), endpoint_url: str | None = None,
                 region: str = "us-east-1", wait_time_seconds: int = 20,
                 clock: Callable[[], float] = time.time, cron_tick: float = 1.0,
                 retry_interval: float = 2.0, shutdown_grace: float = 30.0,
                 on_delivery: Callable[[Delivery], None] | None = None, sqs_client: Any = None,
                 duplicate_deliveries: int | None = None) -> None:
        self.queue_url = queue_url
        # Read here rather than in the command line, so every way of starting sqsd honours it.
        if duplicate_deliveries is None:
            duplicate_deliveries = int(os.environ.get("SQSD_DUPLICATE_DELIVERIES") or 1)
        if not 1 <= duplicate_deliveries <= 10:
            raise ValueError(f"SQSD_DUPLICATE_DELIVERIES must be 1-10, not {duplicate_deliveries}")
        self.duplicate_deliveries = duplicate_deliveries
        self.worker_url = worker_url
        self.settings = settings
        self.cron = list(cron)
        self.wait_time_seconds = max(0, min(20, wait_time_seconds))
        self._clock = clock
        self._cron_tick = cron_tick
        self._retry_interval = retry_interval
        self._shutdown_grace = shutdown_grace
        self._on_delivery = on_delivery
        self._sqs = sqs_client or boto3.session.Session().client(
            "sqs", endpoint_url=endpoint_url, region_name=region,
            config=Config(connect_timeout=5, read_timeout=self.wait_time_seconds + 10,
                          retries={"max_attempts": 2, "mode": "standard"},
                          # every delivery thread deletes or changes visibility through this client
                          max_pool_connections=settings.http_connections * duplicate_deliveries + 4))
        self._stop = threading.Event()
        self._slots = threading.Condition()
        self._in_flight = 0
        self._threads: list[threading.Thread] = []
        self._leader = CronLeader(self._sqs, queue_url, cron, self._now)

    def start(self) -> None:
        self._stop.clear()
        self._leader.begin()
        self._threads = [threading.Thread(target=self._poll_loop, name="sqsd-poll", daemon=True)]
        if self.cron:
            self._threads.append(threading.Thread(target=self._leader.loop, args=(self._stop, self._cron_tick),
                                                  name="sqsd-cron", daemon=True))
        for thread in self._threads:
            thread.start()
        log.info("polling %s, posting to %s%s, %d connections, %d periodic tasks%s", self.queue_url,
                 self.worker_url, self.settings.http_path, self.settings.http_connections, len(self.cron),
                 f", every message delivered {self.duplicate_deliveries} times at once"
                 if self.duplicate_deliveries > 1 else "")

    def stop(self) -> bool:
        """Stop polling and wait (up to shutdown_grace) for in-flight POSTs; False if some were abandoned."""
        self._stop.set()
        with self._slots:
            self._slots.notify_all()  # wake a poller waiting for a free connection
        for thread in self._threads:
            thread.join(timeout=self.wait_time_seconds + 15)
        with self._slots:
            finished = self._slots.wait_for(lambda: self._in_flight == 0, timeout=self._shutdown_grace)
            if not finished:
                # Their messages reappear after VisibilityTimeout, as when a real instance dies.
                log.warning("stopped with %d POSTs still in flight", self._in_flight)
        return finished

    def run(self, stop_event: threading.Event) -> bool:
        self.start()
        while not stop_event.wait(0.5):  # a timeout keeps the main thread responsive to signals
            pass
        return self.stop()

    def _poll_loop(self) -> None:
        self._wait_for_queue()
        while not self._stop.is_set():
            with self._slots:
                # Never take more messages than there are free connections, as v2.0 does.
                self._slots.wait_for(lambda: self._in_flight < self.settings.http_connections or self._stop.is_set())
                free = self.settings.http_connections - self._in_flight
            if self._stop.is_set():
                break
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=min(MAX_BATCH, free),
                    WaitTimeSeconds=self.wait_time_seconds, VisibilityTimeout=self.settings.visibility_timeout,
                    # the current name of the deprecated AttributeNames parameter
                    MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
                ).get("Messages", [])
            except (BotoCoreError, ClientError) as exc:
                log.warning("receive failed: %s; retrying in %.1fs", exc, self._retry_interval)
                self._stop.wait(self._retry_interval)
                continue
            if self._stop.is_set():
                # Received during shutdown: hand them back now rather than hide them for VisibilityTimeout.
                for message in messages:
                    self._change_visibility(message, 0)
                break
            for message in messages:
                with self._slots:
                    self._in_flight += 1
                threading.Thread(target=self._deliver_and_release, args=(message,),
                                 name=f"sqsd-post-{message['MessageId'][:8]}", daemon=True).start()

    def _wait_for_queue(self) -> None:
        """Wait until the queue answers: the process manager may start us before moto or the bootstrap."""
        while not self._stop.is_set():
            try:
                self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
                return
            except (BotoCoreError, ClientError) as exc:
                log.info("waiting for queue %s: %s", self.queue_url, exc)
                self._stop.wait(self._retry_interval)

    def _deliver_and_release(self, message: Mapping[str, Any]) -> None:
        try:
            if self.duplicate_deliveries == 1:
                self._deliver(message)
            else:
                self._deliver_copies(message)
        except Exception:  # a bug here must not leak the connection slot
            log.exception("delivery of %s failed", message.get("MessageId"))
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

    def _deliver_copies(self, message: Mapping[str, Any]) -> None:
        """The same message POSTed by several threads released together, all within one slot."""
        barrier = threading.Barrier(self.duplicate_deliveries)

        def copy() -> None:
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass  # deliver anyway, just less exactly at once
            try:
                self._deliver(message)
            except Exception:
                log.exception("delivery of a copy of %s failed", message.get("MessageId"))

        copies = [threading.Thread(target=copy, name=f"sqsd-copy-{message['MessageId'][:8]}-{n}", daemon=True)
                  for n in range(self.duplicate_deliveries)]
        for thread in copies:
            thread.start()
        for thread in copies:
            thread.join()

    def _deliver(self, message: Mapping[str, Any]) -> None:
        started = time.monotonic()
        attrs = message.get("Attributes", {})
        count = int(attrs.get("ApproximateReceiveCount", 0))
        # Without the attribute (an endpoint that ignores MessageSystemAttributeNames) never expire.
        first_received = int(attrs.get("ApproximateFirstReceiveTimestamp", 0)) / 1000 or self._clock()
        if self._clock() - first_received > self.settings.retention_period:
            self._delete(message)
            self._report(Delivery(message["MessageId"], count, None, None, "expired", 0.0, "expired"))
            return
        url, headers, body = build_request(message, self.queue_url, self.worker_url, self.settings)
        status, error = self._post(url, headers, body)
        if status == 200:  # exactly 200: v2.0 retries 204 and every other 2xx
            self._delete(message)
            outcome = "deleted"
        else:
            # The EB guide says a timed-out POST waits InactivityTimeout; v2.0's code (and observed
            # behaviour) applies ErrorVisibilityTimeout to every failure. We follow the code.
            self._change_visibility(message, self.settings.error_visibility_timeout)
            outcome = "retry"
        self._report(Delivery(message["MessageId"], count, url, status, error, time.monotonic() - started, outcome))

    def _post(self, url: str, headers: dict[str, str], body: bytes) -> tuple[int | None, str | None]:
        # A fresh connection per POST: a stale keep-alive connection would look like a worker failure.
        # (v2.0 re-POSTs at once when the server closes the connection; with no reuse that cannot
        # happen here, and any other connection error is retried after ErrorVisibilityTimeout.)
        # The read timeout is per socket read, which is what InactivityTimeout means.
        try:
            with requests.Session() as session:
                session.trust_env = False  # no proxies between us and a local worker
                response = session.post(url, data=body, headers=headers, allow_redirects=False,
                                        timeout=(self.settings.connect_timeout, self.settings.inactivity_timeout))
                return response.status_code, None
        except requests.Timeout as exc:
            return None, f"timeout: {exc.__class__.__name__}"
        except requests.RequestException as exc:
            return None, f"{exc.__class__.__name__}: {exc}"

    def _delete(self, message: Mapping[str, Any]) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except (BotoCoreError, ClientError) as exc:
            log.warning("delete of %s failed: %s", message["MessageId"], exc)

    def _change_visibility(self, message: Mapping[str, Any], seconds: int) -> None:
        try:
            self._sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                                VisibilityTimeout=seconds)
        except (BotoCoreError, ClientError) as exc:
            log.warning("change visibility of %s failed: %s", message["MessageId"], exc)

    def _report(self, delivery: Delivery) -> None:
        log.info("%s (%d) %s %s in %.3fs: %s", delivery.message_id, delivery.receive_count,
                 delivery.url or "-", delivery.status if delivery.status is not None else delivery.error,
                 delivery.elapsed, delivery.outcome)
        if self._on_delivery:
            self._on_delivery(delivery)

    def fire_task(self, name: str, scheduled_at: datetime | None = None) -> str:
        """Enqueue one run of periodic task `name` exactly as the leader does; returns the message id."""
        return self._leader.fire(name, scheduled_at)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


# -- command line ------------------------------------------------------------------------------


if __name__ == "__main__":
    from devstack.sqsd_cli import main  # the command line lives there; `python -m devstack.sqsd` stays

    sys.exit(main())
