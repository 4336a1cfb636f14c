"""The load generator for machines without wrk: one thread per connection, each a keep-alive
http.client connection sending the plan's items on its own stride (like bench/wrk_plan.lua).
Slower than wrk (its threads share one interpreter), so on a fast path it may be the limit;
the reference runs share that limit, which keeps the ratios honest, not the absolute figures."""
from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
import uuid
from collections import Counter

from bench.load import SEQ, LoadResult, Plan, percentile

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
