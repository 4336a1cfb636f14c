"""One HTTP load: what to send (`Plan`), how it went (`LoadResult`), and who sends it: wrk when
it is installed (Debian's `wrk`, driven by bench/wrk_plan.lua), else the Python generator
(bench/pyload.py). Both cycle through the plan's items, each connection on its own stride, so
consecutive requests name different jobs; `{seq}` in a body becomes a token unique to the
request (activity titles)."""
from __future__ import annotations

import dataclasses
import http.client
import math
import shutil
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

SEQ = "{seq}"


class LoadError(RuntimeError):
    """The target does not answer the way the plan expects; the message says what it answered."""


@dataclass(frozen=True)
class Item:
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None


@dataclass(frozen=True)
class Plan:
    name: str
    base_url: str
    method: str
    items: tuple[Item, ...]
    connections: int
    expect: int  # the status every request should get
    # True when an item must be sent at most once (each worker POST claims a fresh job): the
    # result then says how many requests went beyond the items.
    once: bool = False
    # Requests per second on a fixed schedule (open loop, bench/pyload.py's run_paced), whatever
    # the generator; `connections` is then the most it may open. None: closed loop at `connections`.
    rate: float | None = None

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError(f"plan {self.name} has no items")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"plan {self.name}: a paced rate must be positive, not {self.rate:g}")
        for item in self.items:
            for part in (item.path, item.body or "", *(f"{k}{v}" for k, v in item.headers)):
                if any(c in part for c in "\t\n\r\x1e"):
                    raise ValueError(f"plan {self.name}: tabs, newlines and \\x1e cannot be sent: {part[:60]!r}")

    def slice(self, start: int, stop: int | None = None) -> Plan:
        """The same plan on part of its items (warm-up and run must not share `once` items)."""
        return dataclasses.replace(self, items=self.items[start:stop])

    def paced(self, rate: float, connections: int, name: str | None = None) -> Plan:
        """The same requests in open loop at `rate` a second, opening up to `connections`."""
        return dataclasses.replace(self, name=name or f"{self.name}-paced", rate=rate, connections=connections)


@dataclass(frozen=True)
class LoadResult:
    generator: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int = 0  # connect, read, write errors and timeouts
    unexpected: int = 0  # answers with another status than the plan expects (wrk: non-2xx/3xx)
    statuses: dict[int, int] = field(default_factory=dict)  # the Python generator counts them
    items: int = 0  # how many items the run had to send
    # Paced runs (open loop) only: requests sent more than pyload.LATE_MS after they were due (the
    # wait is in their latency), the 99th percentile of that lag, and the connections it took.
    paced: bool = False
    late: int = 0
    lag_p99_ms: float = 0.0
    connections_opened: int = 0
    connections_cap: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def problems(self, plan: Plan) -> list[str]:
        """What makes this run suspect, for the notes under the table."""
        found = []
        if self.errors:
            found.append(f"{self.errors} socket errors or timeouts")
        if self.unexpected:
            seen = ", ".join(f"{n}×{s}" for s, n in sorted(self.statuses.items()) if s != plan.expect)
            found.append(f"{self.unexpected} of {self.requests} answers were not {plan.expect}" + (f" ({seen})" if seen else ""))
        items = self.items or len(plan.items)
        if plan.once and self.requests > items:
            found.append(f"{self.requests - items} requests re-sent an item already used (only {items} left unused)")
        return found


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (what wrk reports too)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def choose_generator(wanted: str) -> str:
    """`auto` is wrk when it is on PATH, else python."""
    if wanted == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if wanted == "wrk" and not shutil.which("wrk"):
        raise LoadError("wrk is not installed (Debian: apt-get install wrk); or use --generator python")
    return wanted


def probe(plan: Plan, timeout: float = 30.0) -> None:
    """Send the plan's first item once and check the status, so a misconfigured path (a 401, a
    404) fails loudly here instead of being measured. `once` plans keep their first item for this."""
    item = plan.items[0]
    url = urllib.parse.urlsplit(plan.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        body = item.body.replace(SEQ, "probe") if item.body is not None else None
        conn.request(plan.method, item.path, body=body, headers=dict(item.headers))
        response = conn.getresponse()
        text = response.read()[:500].decode(errors="replace")
    finally:
        conn.close()
    if response.status != plan.expect:
        raise LoadError(f"{plan.name}: {plan.method} {item.path} answered {response.status}, "
                        f"expected {plan.expect}: {text}")


def run(plan: Plan, seconds: float, generator: str, work_dir: str) -> LoadResult:
    """One run of `plan`: a paced plan (a `rate`) always by the Python generator's open loop (wrk
    has none), any other by `generator`."""
    if plan.rate is not None:
        from bench import pyload

        result = pyload.run_paced(plan, seconds)
    elif generator == "wrk":
        from bench import wrk

        result = wrk.run(plan, seconds, work_dir)
    else:
        from bench import pyload

        result = pyload.run(plan, seconds)
    return dataclasses.replace(result, items=len(plan.items))
