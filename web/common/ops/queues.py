"""The SQS side of the overview: depth, in-flight and delayed counts of the main queue and the
dead-letter queue (GetQueueAttributes), and the age of the main queue's oldest message.

SQS has no attribute for the oldest message's age on a standard queue; CloudWatch's
ApproximateAgeOfOldestMessage (AWS/SQS, per queue, one datapoint a minute, a few minutes
late) is the real figure and is read when it has a datapoint in the last 10 minutes. Without
one (CloudWatch unreachable or not allowed, a local stack, a queue idle long enough that SQS
stops reporting) the figure comes from the database: the oldest queued job whose message was
sent and not yet claimed (published_at on ix_jobs_state_published), looked up with the depths
it is shown beside and aged at each answer. `oldest_age_source` says which; the database's
figure misses messages that are not jobs' and counts a lost message as waiting.

Read at most once per CACHE_SECONDS per process and queue pair, errors included, so a console
polled by many operators costs SQS a few calls a minute. No request waits for SQS once a
process has read it: a stale reading is answered as it is (`read_at` says when it was taken)
while one background thread per process and queue pair takes the next (stale-while-revalidate).
A process's first reading is waited for until FIRST_READ_WAIT seconds after it began (one
read, however many requests ask, and one wait: a request that comes later is not held again);
past that the answer says it is `pending`, with no figures.
Before this, every request that found the reading stale read SQS and CloudWatch itself: a slow
SQS (moto with a deep queue took 3 s a call) stalled every poll of every process once per
CACHE_SECONDS. An error is part of the answer, never raised."""
from __future__ import annotations

import logging
import threading
import time
import weakref
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from core.app import Services
from core.aws import AwsClients
from core.db import utcnow
from core.models import Job

log = logging.getLogger(__name__)
CACHE_SECONDS = 5.0
# SQS and CloudWatch answer in tens of milliseconds; past this the page says `pending` and its
# live poll (a few seconds later) shows the figures, so no request waits longer on them.
FIRST_READ_WAIT = 0.25
COUNTS = {"visible": "ApproximateNumberOfMessages", "in_flight": "ApproximateNumberOfMessagesNotVisible",
          "delayed": "ApproximateNumberOfMessagesDelayed"}
CLOUDWATCH_LOOKBACK = timedelta(minutes=10)

# (when taken, the reading, the oldest sent and unclaimed job's published_at when CloudWatch had no age)
_cache: dict[tuple[str, str | None], tuple[float, dict[str, Any], datetime | None]] = {}
_refreshing: dict[tuple[str, str | None], threading.Thread] = {}
_started: weakref.WeakKeyDictionary[threading.Thread, float] = weakref.WeakKeyDictionary()
_cloudwatch: weakref.WeakKeyDictionary[Services, Any] = weakref.WeakKeyDictionary()
# The services whose close() has begun: no read starts on them (their pool is being disposed of).
_closing: weakref.WeakSet[Services] = weakref.WeakSet()
_owners: weakref.WeakKeyDictionary[Services, set[threading.Thread]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def forget(wait: float = 5.0) -> None:
    """Drop every reading (tests), after the refreshes under way end (at most `wait` s each)."""
    with _lock:
        running = list(_refreshing.values())
    for thread in running:
        thread.join(wait)
    with _lock:
        _cache.clear()


def queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def warm(services: Services) -> None:
    """Take this process's first reading in the background now (gunicorn's post_worker_init on
    the web tier): an operator's first overview after a deploy then has figures, not `pending`,
    and botocore's first calls (endpoint rules, the CloudWatch client) are paid at boot."""
    settings = services.settings
    _refresh_in_background(services, (settings.sqs_queue_url, settings.sqs_dead_letter_queue_url))


def figures(services: Services) -> dict[str, Any]:
    """{"main": {...}, "dead": {...} or None, "read_at", "cached_for_seconds", "pending"}."""
    settings = services.settings
    key = (settings.sqs_queue_url, settings.sqs_dead_letter_queue_url)
    cached = _cache.get(key)
    if cached is None:
        thread = _refresh_in_background(services, key)
        if thread is not None:
            # One wait per first read, not per request: a request that comes while that read is
            # already past FIRST_READ_WAIT is told `pending` at once.
            thread.join(max(0.0, _started.get(thread, 0.0) + FIRST_READ_WAIT - time.monotonic()))
        cached = _cache.get(key)
        if cached is None:
            return _pending(key)
    elif time.monotonic() - cached[0] >= CACHE_SECONDS:
        _refresh_in_background(services, key)
    _taken, reading, oldest_sent = cached
    main = dict(reading["main"])
    if main["oldest_age_seconds"] is None:
        main.update(oldest_age_seconds=_age(oldest_sent), oldest_age_source="database")
    return {**reading, "main": main}


def _pending(key: tuple[str, str | None]) -> dict[str, Any]:
    def queue(url: str) -> dict[str, Any]:
        return {"name": queue_name(url), **dict.fromkeys(COUNTS), "error": None, "oldest_age_seconds": None,
                "oldest_age_source": None, "cloudwatch_error": None}

    return {"main": queue(key[0]), "dead": None if not key[1] else queue(key[1]), "read_at": None,
            "cached_for_seconds": CACHE_SECONDS, "pending": True}


def _read(services: Services, key: tuple[str, str | None]) -> dict[str, Any]:
    taken = time.monotonic()
    main = _depths(services.queue.sqs, key[0])
    age = _cloudwatch_age(services, main["name"])
    why = age if isinstance(age, str) else None
    main.update(oldest_age_seconds=None if why else age, oldest_age_source="cloudwatch", cloudwatch_error=why)
    # In the background with the depths, not in every request: one round trip fewer per poll.
    oldest_sent = _oldest_sent(services) if main["oldest_age_seconds"] is None else None
    reading = {
        "main": main,
        "dead": None if not key[1] else _depths(services.queue.sqs, key[1]),
        "read_at": utcnow().isoformat(),
        "cached_for_seconds": CACHE_SECONDS,
        "pending": False,
    }
    with _lock:
        _cache[key] = (taken, reading, oldest_sent)
    return reading


def _refresh_in_background(services: Services, key: tuple[str, str | None]) -> threading.Thread | None:
    """The read under way for `key`, started if there is none; None once `services` is closing."""
    with _lock:
        running = _refreshing.get(key)
        if running is not None:
            return running
        if services in _closing:
            return None
        thread = threading.Thread(target=_refresh, args=(services, key), name="ops-queue-figures", daemon=True)
        _started[thread] = time.monotonic()
        if services not in _owners:
            _owners[services] = set()
            services.before_close(lambda wait: _stop(services, wait))
        _owners[services].add(thread)
        _refreshing[key] = thread
        thread.start()
    return thread


def _stop(services: Services, wait: float) -> None:
    """Start no more reads on `services` and let those under way end (at most `wait` s each)."""
    with _lock:
        _closing.add(services)
        running = list(_owners.get(services, ()))
    for thread in running:
        thread.join(wait)


def _refresh(services: Services, key: tuple[str, str | None]) -> None:
    try:
        _read(services, key)
    except Exception:  # the stale reading stays; the next poll tries again
        log.exception("reading the queue figures failed")
    finally:
        with _lock:
            _refreshing.pop(key, None)
            _owners.get(services, set()).discard(threading.current_thread())


def _depths(sqs: Any, url: str) -> dict[str, Any]:
    found: dict[str, Any] = {"name": queue_name(url), **dict.fromkeys(COUNTS), "error": None}
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(COUNTS.values()))["Attributes"]
        for field, attribute in COUNTS.items():
            found[field] = int(attributes.get(attribute, 0))
    except Exception as exc:  # noqa: BLE001  (shown on the page, which must not break)
        log.warning("GetQueueAttributes failed for %s: %s", found["name"], exc)
        found["error"] = f"{type(exc).__name__}: {exc}"[:500]
    return found


def _cloudwatch_client(services: Services) -> Any:
    client = _cloudwatch.get(services)
    if client is None:
        client = AwsClients(services.settings).client("cloudwatch", fast=True)
        with _lock:
            _cloudwatch[services] = client
    return client


def _cloudwatch_age(services: Services, name: str) -> float | str | None:
    """The latest datapoint in seconds, None without one, or the error as text."""
    now = utcnow()
    try:
        datapoints = _cloudwatch_client(services).get_metric_statistics(
            Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=[{"Name": "QueueName", "Value": name}], StartTime=now - CLOUDWATCH_LOOKBACK, EndTime=now,
            Period=60, Statistics=["Maximum"],
        ).get("Datapoints", [])
    except Exception as exc:  # noqa: BLE001  (the database's figure stands in)
        return f"{type(exc).__name__}: {exc}"[:300]
    if not datapoints:
        return None
    return float(max(datapoints, key=lambda point: point["Timestamp"])["Maximum"])


def _oldest_sent(services: Services) -> datetime | None:
    try:
        with services.db.sessions() as session:
            return session.scalar(
                sa.select(sa.func.min(Job.published_at))
                .where(Job.state == "queued", Job.published_at.is_not(None), Job.dead_lettered_at.is_(None))
            )
    except Exception as exc:  # noqa: BLE001  (no age rather than no figures)
        log.warning("reading the oldest sent job failed: %s", exc)
        return None


def _age(oldest: datetime | None) -> float | None:
    return None if oldest is None else max(0.0, round((utcnow() - oldest).total_seconds(), 1))
