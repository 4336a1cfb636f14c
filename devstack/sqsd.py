"""A local Elastic Beanstalk worker daemon (sqsd) that behaves like the real one.

It long-polls the worker queue and POSTs each message to the worker app with the real header set,
deletes a message only on status exactly 200, and otherwise makes it visible again after
ErrorVisibilityTimeout. It is also the cron.yaml leader: it enqueues periodic-task messages the
way the real leader does and delivers them like the real consumer. Dead-lettering after MaxRetries
is done by SQS itself through the queue's RedrivePolicy (see devstack.aws_bootstrap).

Behaviour follows the public copy of AWS's sqsd 2.0 (see shared/reference/eb-worker-facts.md).
Run `python -m devstack.sqsd --help` for the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from croniter import croniter

from devstack.aws_bootstrap import ensure_dummy_credentials
from infra.ebconfig import (
    SQSD_OPTIONS,
    ConfigError,
    CronTask,
    SqsdSettings,
    load_cron,
    load_sqsd_settings,
    with_overrides,
)

log = logging.getLogger("devstack.sqsd")

USER_AGENT = "aws-sqsd/2.4"  # the version seen in real captures
SCHEDULED_BODY = "elasticbeanstalk scheduled job"
ATTR_PATH = "beanstalk.sqsd.path"
ATTR_TASK_NAME = "beanstalk.sqsd.task_name"
ATTR_SCHEDULED_TIME = "beanstalk.sqsd.scheduled_time"
MAX_BATCH = 10  # SQS ReceiveMessage limit
MISSED_TICK_GRACE = 300  # v2.0 re-sends a missed tick only within this many seconds
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery attempt: passed to `on_delivery` and logged."""

    message_id: str
    receive_count: int
    url: str | None  # None when the message expired without a POST
    status: int | None  # None when no HTTP response arrived
    error: str | None
    elapsed: float
    outcome: str  # "deleted", "retry" or "expired"


def iso_utc(moment: float | datetime | str) -> str:
    """UTC ISO 8601 with Z and whole seconds, as Ruby's Time#utc.iso8601 prints it.

    A string is parsed first (and passed through unchanged if it is not ISO 8601).
    """
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_request(message: Mapping[str, Any], queue_url: str, worker_url: str,
                  settings: SqsdSettings) -> tuple[str, dict[str, str], bytes]:
    """URL, headers and body of the POST for one received SQS message."""
    attrs = message.get("Attributes", {})
    mattrs = message.get("MessageAttributes", {})
    task_path = mattrs.get(ATTR_PATH, {}).get("StringValue")
    headers = {
        "User-Agent": USER_AGENT,
        "Content-Type": settings.mime_type,
        "X-Aws-Sqsd-Msgid": message["MessageId"],
        "X-Aws-Sqsd-Receive-Count": attrs.get("ApproximateReceiveCount", ""),
        "X-Aws-Sqsd-First-Received-At": iso_utc(int(attrs.get("ApproximateFirstReceiveTimestamp", 0)) / 1000),
        "X-Aws-Sqsd-Sent-At": iso_utc(int(attrs.get("SentTimestamp", 0)) / 1000),
        "X-Aws-Sqsd-Queue": queue_url.rstrip("/").rsplit("/", 1)[-1],
        "X-Aws-Sqsd-Path": task_path or "",
        "X-Aws-Sqsd-Sender-Id": attrs.get("SenderId", ""),
    }
    for name, value in mattrs.items():
        # v2.0 forwards String/Number (incl. custom String.x types), drops Binary and its own attributes.
        if name.startswith("beanstalk.sqsd.") or not value.get("DataType", "").startswith(("String", "Number")):
            continue
        headers[f"X-Aws-Sqsd-Attr-{name}"] = value.get("StringValue", "")
    scheduled = mattrs.get(ATTR_SCHEDULED_TIME, {}).get("StringValue")
    if scheduled is None:
        return worker_url.rstrip("/") + settings.http_path, headers, message.get("Body", "").encode("utf-8")
    # A periodic task: POST to the task's own URL with no body (v2.0 keys this on scheduled_time).
    headers["X-Aws-Sqsd-Scheduled-At"] = iso_utc(scheduled)  # v2.0 re-formats the leader's time
    headers["X-Aws-Sqsd-Taskname"] = mattrs.get(ATTR_TASK_NAME, {}).get("StringValue", "")
    return worker_url.rstrip("/") + (task_path or settings.http_path), headers, b""


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
                 on_delivery: Callable[[Delivery], None] | None = None, sqs_client: Any = None) -> None:
        self.queue_url = queue_url
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
                          max_pool_connections=settings.http_connections + 4))
        self._stop = threading.Event()
        self._slots = threading.Condition()
        self._in_flight = 0
        self._threads: list[threading.Thread] = []
        self._due: dict[str, datetime] = {}

    def start(self) -> None:
        self._stop.clear()
        # First due times are fixed here, not in the thread, so a test moving the clock after
        # start() cannot race with them.
        self._due = {task.name: croniter(task.schedule, self._now()).get_next(datetime) for task in self.cron}
        self._threads = [threading.Thread(target=self._poll_loop, name="sqsd-poll", daemon=True)]
        if self.cron:
            self._threads.append(threading.Thread(target=self._cron_loop, name="sqsd-cron", daemon=True))
        for thread in self._threads:
            thread.start()
        log.info("polling %s, posting to %s%s, %d connections, %d periodic tasks", self.queue_url,
                 self.worker_url, self.settings.http_path, self.settings.http_connections, len(self.cron))

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
            self._deliver(message)
        except Exception:  # a bug here must not leak the connection slot
            log.exception("delivery of %s failed", message.get("MessageId"))
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

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
        task = next((t for t in self.cron if t.name == name), None)
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

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _cron_loop(self) -> None:
        # Every tick enqueues a message, even if the previous run is still going: the real leader
        # has no overlap protection either.
        due = self._due
        while not self._stop.wait(self._cron_tick):
            now = self._now()
            for task in self.cron:
                if now < due[task.name]:
                    continue
                tick = latest_tick(task.schedule, now)
                if (now - tick).total_seconds() <= MISSED_TICK_GRACE:
                    try:
                        self.fire_task(task.name, tick)
                    except (BotoCoreError, ClientError) as exc:
                        log.warning("could not enqueue %s for %s: %s", task.name, iso_utc(tick), exc)
                else:
                    log.warning("skipped %s: tick %s is older than %ds", task.name, iso_utc(tick), MISSED_TICK_GRACE)
                due[task.name] = croniter(task.schedule, now).get_next(datetime)


def latest_tick(schedule: str, now: datetime) -> datetime:
    """The last time at or before `now` matching `schedule` (ticks fall on whole minutes)."""
    return croniter(schedule, now.replace(microsecond=0) + timedelta(seconds=1)).get_prev(datetime)


# -- command line ------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m devstack.sqsd", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(env.get("SQSD_PROJECT_ROOT", REPO_ROOT)),
                        help="project root holding .ebextensions/, .elasticbeanstalk/ and cron.yaml (env SQSD_PROJECT_ROOT)")
    parser.add_argument("--queue-url", default=env.get("SQS_QUEUE_URL"), help="worker queue (env SQS_QUEUE_URL)")
    parser.add_argument("--worker-url", default=env.get("SQSD_WORKER_URL", "http://localhost"),
                        help="base URL of the worker HTTP server (env SQSD_WORKER_URL; EB: http://localhost)")
    parser.add_argument("--endpoint-url", default=env.get("AWS_ENDPOINT_URL"), help="env AWS_ENDPOINT_URL")
    parser.add_argument("--region", default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
                        help="env AWS_REGION, AWS_DEFAULT_REGION")
    parser.add_argument("--wait-time-seconds", type=int, default=int(env.get("SQSD_WAIT_TIME_SECONDS", 20)),
                        help="long-poll wait, 0-20 (env SQSD_WAIT_TIME_SECONDS)")
    parser.add_argument("--no-cron", action="store_true", default=env.get("SQSD_CRON", "1") == "0",
                        help="do not act as the cron.yaml leader (env SQSD_CRON=0)")
    parser.add_argument("--shutdown-grace", type=float, default=float(env.get("SQSD_SHUTDOWN_GRACE", 30)),
                        help="seconds to let in-flight POSTs finish on shutdown (env SQSD_SHUTDOWN_GRACE)")
    overrides = parser.add_argument_group("overrides of the sqsd options from the EB option files")
    for option, spec in SQSD_OPTIONS.items():
        if option != "MaxRetries":  # enforced by the queue's RedrivePolicy, not by sqsd
            name = f"SQSD_{spec.field.upper()}"  # e.g. --inactivity-timeout, SQSD_INACTIVITY_TIMEOUT
            overrides.add_argument("--" + spec.field.replace("_", "-"), dest=option, default=env.get(name),
                                   metavar="VALUE", help=f"{option} (env {name})")
    args = parser.parse_args(argv)
    if not args.queue_url:
        parser.error("no queue: set SQS_QUEUE_URL or pass --queue-url")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s sqsd %(levelname)s %(message)s")
    args = parse_args(argv)
    ensure_dummy_credentials()
    try:
        given = {option: getattr(args, option) for option in SQSD_OPTIONS if getattr(args, option, None) is not None}
        settings = with_overrides(load_sqsd_settings(args.root), given, "command line/environment")
        cron = [] if args.no_cron else load_cron(args.root)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    daemon = Sqsd(args.queue_url, args.worker_url, settings, cron=cron, endpoint_url=args.endpoint_url,
                  region=args.region, wait_time_seconds=args.wait_time_seconds, shutdown_grace=args.shutdown_grace)
    stop_event = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop_event.is_set():  # a second signal: do not wait for in-flight POSTs
            os._exit(1)
        log.info("signal %d: shutting down", signum)
        stop_event.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    daemon.run(stop_event)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
