"""An open-loop load generator for the web tier that remembers what it was promised.

Requests fall due on a fixed schedule (`rate` a second) whatever the server does, and each
latency is measured from its due time (as bench/pyload.py's paced mode, and for the same reason:
a stalled server must count against every request it delayed). Unlike the benchmark's generator
it keeps the answer's job: every 202 names a job the web tier accepted, and the scenario then
checks that job at the source of truth. Runs in the background: `start()`, then `stop()`."""
from __future__ import annotations

import http.client
import json
import queue
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.load import percentile

TIMEOUT = 35.0  # above gunicorn's 30 s web timeout: a hung request is seen, not cut short here


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict | None = None


@dataclass(frozen=True)
class Sample:
    due: float
    done: float
    status: int | None  # None: a socket error or timeout
    job_id: uuid.UUID | None = None
    path: str = ""

    @property
    def latency_ms(self) -> float:
        return (self.done - self.due) * 1000


@dataclass
class Outcome:
    samples: list[Sample] = field(default_factory=list)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.due < end]

    def accepted(self) -> set[uuid.UUID]:
        """The jobs the web tier answered for (202 new, or 200: the same request already in progress)."""
        return {s.job_id for s in self.samples if s.job_id is not None}

    def p99_ms(self, start: float = 0.0, end: float = float("inf")) -> float:
        chosen = sorted(s.latency_ms for s in self.between(start, end))
        return percentile(chosen, 0.99) if chosen else 0.0

    def statuses(self) -> Counter[int | None]:
        return Counter(s.status for s in self.samples)

    def failed(self) -> list[Sample]:
        """Answers that are not what the web tier should give under any fault of a dependency."""
        return [s for s in self.samples if s.status is None or s.status >= 500]


class Load:
    """`make_call(n)` gives the n-th request; `connections` bounds the sockets (a request due
    while all are busy waits for one, and that wait is in its latency)."""

    def __init__(self, base_url: str, headers: dict[str, str], make_call: Callable[[int], Call], rate: float,
                 connections: int = 16):
        url = urllib.parse.urlsplit(base_url)
        self.host, self.port = url.hostname, url.port
        self.headers = {**headers, "Content-Type": "application/json"}
        self.make_call = make_call
        self.rate = rate
        self.connections = connections
        self.outcome = Outcome()
        self._due: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> Load:
        self._threads = [threading.Thread(target=self._serve, daemon=True, name=f"chaos-load-{n}")
                         for n in range(self.connections)]
        self._threads.append(threading.Thread(target=self._pace, daemon=True, name="chaos-pace"))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Outcome:
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT + 5)
        return self.outcome

    def _pace(self) -> None:
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = start + n / self.rate
            wait = due - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            self._due.put((n, due))
            n += 1
        for _ in range(self.connections):
            self._due.put(None)

    def _serve(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            while (task := self._due.get()) is not None:
                n, due = task
                sample = self._send(conn, self.make_call(n), due)
                if sample.status is None:
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
                with self._lock:
                    self.outcome.samples.append(sample)
        finally:
            conn.close()

    def _send(self, conn: http.client.HTTPConnection, call: Call, due: float) -> Sample:
        body = json.dumps(call.body) if call.body is not None else None
        try:
            conn.request(call.method, call.path, body=body, headers=self.headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            return Sample(due, time.monotonic(), None, path=call.path)
        job_id = None
        if response.status in (200, 202) and call.method == "POST":
            job_id = _job_id(response.getheader("Location"), data)
        return Sample(due, time.monotonic(), response.status, job_id, call.path)


def _job_id(location: str | None, data: bytes) -> uuid.UUID | None:
    if location and location.startswith("/api/jobs/"):
        return uuid.UUID(location.rsplit("/", 1)[1])
    try:
        job = json.loads(data).get("job")
    except (ValueError, AttributeError):
        return None
    return uuid.UUID(job["id"]) if isinstance(job, dict) and job.get("id") else None


@dataclass(frozen=True)
class Probe:
    sent: float
    done: float
    status: int | None


class Prober:
    """GET `path` every `interval` seconds, one at a time, each answer kept: what a load
    balancer's health check sees."""

    def __init__(self, base_url: str, path: str = "/healthz", interval: float = 0.5):
        self.url = base_url.rstrip("/") + path
        self.interval = interval
        self.probes: list[Probe] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-probe")

    def start(self) -> Prober:
        self._thread.start()
        return self

    def stop(self) -> list[Probe]:
        self._stop.set()
        self._thread.join(TIMEOUT + 5)
        return list(self.probes)

    def _run(self) -> None:
        url = urllib.parse.urlsplit(self.url)
        while not self._stop.is_set():
            sent = time.monotonic()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT)
            try:
                conn.request("GET", url.path)
                response = conn.getresponse()
                response.read()
                status: int | None = response.status
            except (OSError, http.client.HTTPException):
                status = None
            finally:
                conn.close()
            self.probes.append(Probe(sent, time.monotonic(), status))
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - sent)))
