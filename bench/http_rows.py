"""The HTTP scenarios of issue 10, each a reference app and the Aula paths compared with it.
Targets are the issue's (P1 enqueue, P2 poll, healthz, P4 worker overhead); P1's p99 is judged on
the paced rows, its throughput on wrk's."""
from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from bench.context import Context, Measured
from bench.load import Item, LoadResult, Plan
from bench.processes import Process
from bench.rows import Row, Target
from bench.seed import canaries_done, settle_enqueued
from core.jobs.envelope import Envelope
from core.jobs.types import CANARY
from devstack.sqsd_protocol import build_request

REF_A = "ref (a) bare Flask, small JSON"
REF_B = "ref (b) bare Flask + 1 SELECT by id"
REF_C = "ref (c) bare Flask + 1 INSERT"
REF_D = "ref (d) bare Flask POST + 1 UPDATE"
SQS_PAUSE_AT, SQS_PAUSE_FOR = 2.0, 5.0  # seconds into the run; how long moto stays SIGSTOPped
JSON = ("Content-Type", "application/json")


def _bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


def healthz(ctx: Context) -> list[Row]:
    ctx.stack.keep("web", "ref-json")
    web, ref = ctx.stack.web(), ctx.stack.reference("json")
    c = ctx.options.connections
    return ctx.compare(REF_A, Plan("ref-json", ref, "GET", (Item("/json"),), c, 200), [
        Measured("GET /healthz", Plan("healthz", web, "GET", (Item("/healthz"),), c, 200),
                 (Target("ratio", 0.70, label="≥ 70% of ref (a)"),)),
    ])


def poll(ctx: Context) -> list[Row]:
    ctx.stack.keep("web", "ref-select")
    web, ref = ctx.stack.web(), ctx.stack.reference("select")
    c, jobs = ctx.options.connections, ctx.data.poll_jobs
    polls = tuple(Item(f"/api/jobs/{job_id}", (_bearer(token),)) for job_id, token in jobs)
    paths = [Measured("GET /api/jobs/<id> (P2 poll)", Plan("poll", web, "GET", polls, c, 200),
                      (Target("ratio", 0.70, label="≥ 70% of ref (b)"),))]
    if not ctx.options.quick:
        unchanged = tuple(Item(i.path, (*i.headers, ("If-None-Match", _etag(web, i)))) for i in polls)
        paths.append(Measured("same, If-None-Match (304)", Plan("poll-304", web, "GET", unchanged, c, 304),
                              (Target("ratio", 0.80, label="≥ 80% of ref (b)"),)))
    reference = Plan("ref-select", ref, "GET", tuple(Item(f"/jobs/{job_id}") for job_id, _ in jobs), c, 200)
    return ctx.compare(REF_B, reference, paths)


def _etag(base_url: str, item: Item) -> str:
    with urllib.request.urlopen(urllib.request.Request(base_url + item.path, headers=dict(item.headers)), timeout=30) as r:
        etag = r.headers.get("ETag")
    if not etag:
        raise RuntimeError(f"GET {item.path} sent no ETag: the 304 path cannot be measured")
    return etag


def _publishing(ctx: Context) -> tuple[Plan, Plan, Callable[[LoadResult], None]]:
    """P1's plan (publishing an activity, the teachers in turn), ref (c)'s, and what to run after
    each run so the next one starts where the first did."""
    web, ref = ctx.stack.web(), ctx.stack.reference("insert")
    c = ctx.options.connections
    body = json.dumps({"title": "Bench activity {seq}", "description": "Published by make bench."})
    publishes = tuple(Item(f"/api/classes/{t.class_id}/activities", (_bearer(t.token), JSON), body)
                      for t in ctx.data.teachers)
    ctx.setting(f"enqueue: {len(ctx.data.teachers)} teachers in turn, JOBS_MAX_IN_FLIGHT_PER_USER raised to "
                f"{ctx.stack.env()['JOBS_MAX_IN_FLIGHT_PER_USER']} for the web tier, and the fan-out jobs each "
                f"run creates marked done after it (no worker runs them), so no run meets the 429")

    def settle(_result: LoadResult) -> None:
        settle_enqueued(ctx.database.url)

    reference = Plan("ref-insert", ref, "POST", (Item("/jobs", (JSON,), json.dumps({"title": "Bench {seq}"})),), c, 202)
    return Plan("enqueue", web, "POST", publishes, c, 202), reference, settle


def _sqs_slowed(ctx: Context) -> Callable[[float], AbstractContextManager[None]]:
    moto = ctx.stack.process("moto")
    ctx.setting(f"SQS slowed: moto SIGSTOPped {SQS_PAUSE_AT:g} s into the run for {SQS_PAUSE_FOR:g} s, then SIGCONT")
    return lambda seconds: sqs_paused(moto, seconds)


def enqueue(ctx: Context) -> list[Row]:
    """P1's throughput under wrk's closed loop. Its p99 is judged on the paced rows (`paced`): at 32
    connections a request's latency is mostly its wait behind the other 31."""
    ctx.stack.keep("web", "ref-insert")
    plan, reference, settle = _publishing(ctx)
    paths = [Measured("POST /api/classes/<id>/activities (P1)", plan,
                      (Target("ratio", 0.50, label="≥ 50% of ref (c)"),), after=settle)]
    if not ctx.options.quick:
        paths.append(Measured(f"same, SQS paused {SQS_PAUSE_FOR:g} s (SIGSTOP)", plan, during=_sqs_slowed(ctx),
                              after=settle))
    return ctx.compare(REF_C, reference, paths)


def paced(ctx: Context) -> list[Row]:
    """P1's latency at a fixed arrival rate well below capacity (open loop, bench/pyload.py): each
    request's latency from when it was due, so a request held up by SQS or a lock counts its whole
    wait, and nothing queues behind it. Judged: p99 ≤ 30 ms, also with SQS paused."""
    ctx.stack.keep("web", "ref-insert")
    plan, reference, settle = _publishing(ctx)
    rate, cap = ctx.options.paced_rate, ctx.options.paced_connections
    ctx.setting(f"paced rows: the Python generator in open loop, {rate:g} requests a second on a fixed schedule "
                f"whatever the answers take (so also with wrk installed), {ctx.options.duration:g} s per run after "
                f"{ctx.options.warmup:g} s of warm-up; latency from each request's due time; a new connection "
                f"whenever one falls due and none is idle, up to {cap}")
    p99 = (Target("p99_ms", 30, at_most=True, label="p99 ≤ 30 ms"),)
    paths = [Measured(f"P1 enqueue at {rate:g} req/s (paced)", plan.paced(rate, cap), p99, after=settle)]
    if not ctx.options.quick:
        paths.append(Measured(f"same, SQS paused {SQS_PAUSE_FOR:g} s (paced)", plan.paced(rate, cap), p99,
                              during=_sqs_slowed(ctx), after=settle))
    return ctx.compare(f"{REF_C}, {rate:g} req/s (paced)", reference.paced(rate, cap), paths)


@contextmanager
def sqs_paused(moto: Process, seconds: float) -> Iterator[None]:
    """Pause moto part of the way through a run of `seconds`; it is always continued after."""
    done = threading.Event()
    start = min(SQS_PAUSE_AT, seconds / 4)

    def window() -> None:
        if done.wait(start):
            return
        moto.pause()
        paused = time.monotonic()
        try:
            done.wait(min(SQS_PAUSE_FOR, seconds - start))
        finally:
            moto.resume()
            print(f"  (moto was SIGSTOPped for {time.monotonic() - paused:.1f} s, {start:g} s into the run)",
                  file=sys.stderr, flush=True)

    thread = threading.Thread(target=window, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        moto.resume()


def worker(ctx: Context) -> list[Row]:
    ctx.stack.keep("worker", "ref-update")
    url, ref = ctx.stack.worker(), ctx.stack.reference("update")
    sqsd = ctx.stack.sqsd
    c = sqsd.http_connections  # sqsd's concurrency, one sync gunicorn worker each
    queue_url = ctx.stack.env()["SQS_QUEUE_URL"]
    deliveries = tuple(_delivery(job_id, queue_url, url, sqsd) for job_id in ctx.data.canaries)
    plan = Plan("worker", url, "POST", deliveries, c, 200, once=True)
    ctx.setting(f"worker: {c} connections (sqsd HttpConnections), each POST the envelope of a fresh queued "
                f"canary job with sqsd's headers (devstack/sqsd_protocol.py)")

    def claimed(result: LoadResult) -> str | None:
        # Proof the POSTs ran the engine: each fresh canary must end up succeeded.
        done = canaries_done(ctx.database.url, list(ctx.data.canaries))
        return f"canary jobs claimed and recorded so far (warm-ups included): {done:,}; this run's POSTs: {result.requests:,}"

    reference = Plan("ref-update", ref, "POST", tuple(
        _delivery(job_id, queue_url, ref, sqsd, path="/update") for job_id in ctx.data.update_targets), c, 200)
    return ctx.compare(REF_D, reference, [Measured("POST /sqsd/jobs, canary (P4)", plan,
                                                    (Target("ratio", 0.50, label="≥ 50% of ref (d)"),), after=claimed)])


def _delivery(job_id: str, queue_url: str, worker_url: str, sqsd, path: str | None = None) -> Item:
    now_ms = str(int(time.time() * 1000))
    message = {
        "MessageId": str(uuid.uuid4()),
        "Body": Envelope(job_id=uuid.UUID(job_id), type=CANARY.name, trace_id=uuid.UUID(job_id).hex).to_json(),
        "Attributes": {"ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": now_ms,
                       "SentTimestamp": now_ms, "SenderId": "AIDABENCH"},
    }
    target, headers, body = build_request(message, queue_url, worker_url, sqsd)
    return Item(path or target[len(worker_url):], tuple(headers.items()), body.decode())
