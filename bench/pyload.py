"""The Python load generator, in two modes.

Closed loop (`run`), for machines without wrk: one thread per connection, each a keep-alive
http.client connection sending the plan's items on its own stride (like bench/wrk_plan.lua), the
next request as soon as the last one answered. Slower than wrk (its threads share one
interpreter), so on a fast path it may be the limit; the reference runs share that limit, which
keeps the ratios honest, not the absolute figures.

Open loop (`run_paced`), for a plan with a `rate`, with or without wrk: requests are due on a
fixed schedule (`rate` per second, evenly spaced) whatever the server does, and each latency is
measured from the moment its request was due, not from when it was sent. A closed loop measures
its own queue: at 32 connections p99 is mostly the time a request waits behind the other 31, and
a stalled request holds back the requests its connection would have sent, so the stall is
counted once instead of for every request it delayed (coordinated omission). Here a stalled
request delays nothing else: each due request goes to an idle connection, and a new one is opened
when none is idle (up to the plan's `connections`); if even those are all busy the request waits
for one, and that wait is part of its latency."""
from __future__ import annotations

import http.client
import math
import queue
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bench.load import SEQ, Item, LoadResult, Plan, percentile

REQUEST_TIMEOUT = 35.0  # as wrk's --timeout in bench/wrk.py


class _Connection:
    def __init__(self, plan: Plan, index: int, tag: str, deadline: float):
        url = urllib.parse.urlsplit(plan.base_url)
        self.host, self.port = url.hostname, url.port
        self.plan, self.index, self.tag, self.deadline = plan, index, tag, deadline
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        position, step, counter = self.index, self.plan.connections, 0
        items = self.plan.items
        try:
            while time.monotonic() < self.deadline:
                item = items[position % len(items)]
                position += step
                body = item.body
                if body is not None and SEQ in body:
                    counter += 1
                    body = body.replace(SEQ, f"{self.tag}-{self.index}-{counter}")
                started = time.perf_counter()
                try:
                    conn.request(self.plan.method, item.path, body=body, headers=dict(item.headers))
                    response = conn.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    self.errors += 1
                    conn.close()  # reopened by the next request
                    continue
                self.latencies.append((time.perf_counter() - started) * 1000)
                self.statuses[response.status] += 1
        finally:
            conn.close()


def run(plan: Plan, seconds: float) -> LoadResult:
    started = time.monotonic()
    tag = uuid.uuid4().hex[:8]
    connections = [_Connection(plan, i, tag, started + seconds) for i in range(plan.connections)]
    threads = [threading.Thread(target=c.run, daemon=True) for c in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + REQUEST_TIMEOUT + 5)
    elapsed = time.monotonic() - started
    latencies = sorted(v for c in connections for v in c.latencies)
    statuses: Counter[int] = Counter()
    for c in connections:
        statuses.update(c.statuses)
    return LoadResult(
        generator="python",
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=percentile(latencies, 0.50),
        p90_ms=percentile(latencies, 0.90),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else 0.0,
        errors=sum(c.errors for c in connections),
        unexpected=sum(n for status, n in statuses.items() if status != plan.expect),
        statuses=dict(statuses),
    )


# -- open loop ---------------------------------------------------------------------------------
LEAD = 0.05  # seconds from setting up to the first due request: the first ones are not born late
LATE_MS = 10.0  # a request sent this much after it was due counts as started late (in the notes)


def schedule(rate: float, seconds: float) -> list[float]:
    """When each request of a paced run is due, in seconds from the run's start: `rate` a second,
    evenly spaced, as many as fit in `seconds` (at least one)."""
    if rate <= 0 or seconds <= 0:
        raise ValueError(f"a paced run needs a positive rate and duration, not {rate:g}/s for {seconds:g} s")
    count = max(1, math.floor(rate * seconds + 1e-9))
    return [n / rate for n in range(count)]


@dataclass(frozen=True)
class Sample:
    """One paced request: when it was due, sent and answered (perf_counter seconds), and its status
    (None: a socket error or timeout)."""

    due: float
    sent: float
    done: float
    status: int | None

    @property
    def latency_ms(self) -> float:
        """From when it was due: a request that waited for a connection, or for the generator,
        counts that wait."""
        return (self.done - self.due) * 1000

    @property
    def lag_ms(self) -> float:
        return max(0.0, (self.sent - self.due) * 1000)


def paced_result(samples: Sequence[Sample], scheduled: int, seconds: float, expect: int, opened: int,
                 cap: int) -> LoadResult:
    """The LoadResult of a paced run of `scheduled` requests over `seconds`: percentiles of the
    latencies from the due times of those answered; socket errors, and requests still unanswered
    when the run gave up waiting, counted apart as errors (as wrk counts its errors and timeouts)."""
    answered = [s for s in samples if s.status is not None]
    latencies = sorted(s.latency_ms for s in answered)
    lags = sorted(s.lag_ms for s in samples)
    statuses = Counter(s.status for s in answered)
    return LoadResult(
        generator="python (paced)",
        requests=len(answered),
        seconds=seconds,
        p50_ms=percentile(latencies, 0.50),
        p90_ms=percentile(latencies, 0.90),
        p99_ms=percentile(latencies, 0.99),
        max_ms=latencies[-1] if latencies else 0.0,
        errors=scheduled - len(answered),
        unexpected=sum(n for status, n in statuses.items() if status != expect),
        statuses=dict(statuses),
        paced=True,
        late=sum(1 for lag in lags if lag > LATE_MS),
        lag_p99_ms=percentile(lags, 0.99),
        connections_opened=opened,
        connections_cap=cap,
    )


class _PacedConnections:
    """Keep-alive connections, each with its thread, taking due requests from one queue; a new
    one is opened whenever a request falls due and none is idle (up to `cap`)."""

    def __init__(self, plan: Plan, tag: str, cap: int):
        url = urllib.parse.urlsplit(plan.base_url)
        self.host, self.port = url.hostname, url.port
        self.plan, self.tag, self.cap = plan, tag, cap
        self.due: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.idle = 0  # connections waiting for a request
        self.pending = 0  # due requests no connection has taken yet
        self.threads: list[threading.Thread] = []
        self.samples: list[Sample] = []

    def open(self, count: int) -> None:
        """Open `count` connections before the run, so its first requests do not pay for the connect."""
        for _ in range(min(count, self.cap)):
            self._start(connect=True)

    def _start(self, connect: bool = False) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        if connect:
            try:
                conn.connect()
            except OSError:
                pass  # connected again on first use; its error, if any, is counted there
        self.idle += 1
        thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
        self.threads.append(thread)
        thread.start()

    def submit(self, index: int, due: float) -> None:
        with self.lock:
            if self.idle <= self.pending and len(self.threads) < self.cap:
                self._start()
            self.pending += 1
        self.due.put((index, due))

    def _serve(self, conn: http.client.HTTPConnection) -> None:
        items = self.plan.items
        try:
            while (task := self.due.get()) is not None:
                with self.lock:
                    self.idle -= 1
                    self.pending -= 1
                index, due = task
                item = items[index % len(items)]
                self.samples.append(self._send(conn, item, due, f"{self.tag}-{index}"))
                with self.lock:
                    self.idle += 1
        finally:
            conn.close()

    def _send(self, conn: http.client.HTTPConnection, item: Item, due: float, seq: str) -> Sample:
        body = item.body.replace(SEQ, seq) if item.body is not None else None
        sent = time.perf_counter()
        try:
            conn.request(self.plan.method, item.path, body=body, headers=dict(item.headers))
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            conn.close()  # reopened by the next request
            return Sample(due, sent, time.perf_counter(), None)
        return Sample(due, sent, time.perf_counter(), response.status)

    def finish(self, timeout: float) -> None:
        for _ in self.threads:
            self.due.put(None)
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.1, deadline - time.monotonic()))


def run_paced(plan: Plan, seconds: float) -> LoadResult:
    """Send `plan.rate` requests a second for `seconds` on a fixed schedule (see the module's
    docstring), then wait for the last answers; req/s is what was sent over the scheduled time."""
    if plan.rate is None:
        raise ValueError(f"plan {plan.name} has no rate: it is not a paced plan")
    offsets = schedule(plan.rate, seconds)
    pool = _PacedConnections(plan, uuid.uuid4().hex[:8], plan.connections)
    # Enough open connections for the rate at a few tens of milliseconds each; more as needed.
    pool.open(max(2, math.ceil(plan.rate * 0.05)))
    start = time.perf_counter() + LEAD
    for index, offset in enumerate(offsets):
        due = start + offset
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        pool.submit(index, due)
    pool.finish(REQUEST_TIMEOUT + 5)
    return paced_result(list(pool.samples), len(offsets), len(offsets) / plan.rate, plan.expect, len(pool.threads),
                        plan.connections)
