"""bench/pyload.py's open loop: the schedule, latency from each request's due time, and a stalled
request that delays nothing else (or, with every connection busy, whose wait is counted). The
assertions are bounds that follow from the schedule, not speeds."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import load, pyload
from bench.load import Item, Plan
from bench.pyload import Sample, paced_result, schedule

STALL_UNTIL_SEEN = 5  # the stalled request is answered once this many later requests arrived
FAILSAFE = 10.0  # seconds: a server that never sees them answers anyway, and the test fails


def test_the_schedule_is_evenly_spaced_at_the_rate():
    assert schedule(4, 1) == [0.0, 0.25, 0.5, 0.75]
    assert len(schedule(50, 12)) == 600
    assert schedule(50, 0.001) == [0.0]  # at least one request
    assert len(schedule(3, 2.5)) == 7  # as many as fit in the time
    for bad in ((0, 1), (-1, 1), (5, 0)):
        with pytest.raises(ValueError, match="positive"):
            schedule(*bad)


def test_latency_counts_from_when_a_request_was_due_not_when_it_was_sent():
    waited = Sample(due=10.0, sent=10.5, done=10.52, status=202)
    assert waited.latency_ms == pytest.approx(520) and waited.lag_ms == pytest.approx(500)
    early = Sample(due=10.0, sent=9.999, done=10.01, status=202)
    assert early.lag_ms == 0.0


def test_a_paced_result_takes_percentiles_from_due_times_and_counts_what_went_wrong():
    on_time = [Sample(n, n, n + 0.002, 202) for n in range(96)]
    late = [Sample(100 + n, 100.3 + n, 100.31 + n, 202) for n in range(2)]  # waited 300 ms for a connection
    wrong = [Sample(200, 200, 200.004, 500)]
    failed = [Sample(300, 300, 335, None)]
    result = paced_result(on_time + late + wrong + failed, scheduled=101, seconds=2.0, expect=202, opened=3, cap=8)
    assert result.paced and result.generator == "python (paced)"
    assert result.requests == 99 and result.rps == pytest.approx(49.5)
    assert result.p50_ms == pytest.approx(2.0)
    assert result.p99_ms == pytest.approx(310) and result.max_ms == pytest.approx(310)  # the wait is in it
    assert result.errors == 2  # the socket error, and one due request never answered
    assert result.unexpected == 1 and result.statuses == {202: 98, 500: 1}
    assert result.late == 2 and (result.connections_opened, result.connections_cap) == (3, 8)


def test_a_plan_is_paced_only_at_a_positive_rate():
    plan = Plan("p", "http://h:1", "POST", (Item("/a"),), 32, 202)
    paced = plan.paced(20, 64)
    assert (paced.rate, paced.connections, paced.name, paced.expect) == (20, 64, "p-paced", 202)
    assert paced.slice(0).rate == 20
    with pytest.raises(ValueError, match="positive"):
        Plan("p", "http://h:1", "GET", (Item("/a"),), 1, 200, rate=0)


class _Stalling(BaseHTTPRequestHandler):
    """/stall is answered only after STALL_UNTIL_SEEN other requests arrived (or hold_seconds, if
    set); everything else at once."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        with server.changed:  # type: ignore[attr-defined]
            if self.path != "/stall":
                server.others += 1  # type: ignore[attr-defined]
                server.changed.notify_all()  # type: ignore[attr-defined]
        if self.path == "/stall":
            if server.hold_seconds:  # type: ignore[attr-defined]
                threading.Event().wait(server.hold_seconds)  # type: ignore[attr-defined]
            else:
                with server.changed:  # type: ignore[attr-defined]
                    before = server.others  # type: ignore[attr-defined]
                    server.released = server.changed.wait_for(  # type: ignore[attr-defined]
                        lambda: server.others - before >= STALL_UNTIL_SEEN, FAILSAFE)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def stalling() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Stalling)
    httpd.changed, httpd.others, httpd.released, httpd.hold_seconds = threading.Condition(), 0, None, 0.0  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _plan(server: _Server, cap: int, rate: float = 20) -> Plan:
    items = (Item("/stall"), *(Item(f"/ok/{n}") for n in range(1, 20)))
    return Plan("paced", f"http://127.0.0.1:{server.server_address[1]}", "GET", items, cap, 200, rate=rate)


def test_a_stalled_request_delays_nothing_else_and_its_whole_wait_counts(stalling):
    plan = _plan(stalling, cap=8)
    result = load.run(plan, 1.0, "wrk", "/nonexistent")  # paced plans never go to wrk
    # The stall ended only because later requests kept arriving on other connections ...
    assert stalling.released is True  # type: ignore[attr-defined]
    assert result.requests == 20 and result.errors == 0 and result.unexpected == 0
    assert result.connections_opened >= 2
    # ... and lasted at least until the 5th of them was due, 5 / 20 s after it was due itself.
    assert result.max_ms >= STALL_UNTIL_SEEN / plan.rate * 1000


def test_with_every_connection_busy_the_next_requests_wait_and_that_wait_counts(stalling):
    stalling.hold_seconds = 0.5  # type: ignore[attr-defined]
    result = pyload.run_paced(_plan(stalling, cap=1), 1.0)
    assert result.requests == 20 and result.errors == 0 and result.connections_opened == 1
    # Requests 1-9 fell due (every 50 ms) while the only connection was held for 500 ms: each
    # was sent at least 50 ms late, and its latency counts from when it was due, so 10 of the 20
    # latencies (the stalled one's included) are at least 50 ms: p90 is one of them.
    assert result.late >= 9
    assert result.max_ms >= 500 and result.p90_ms >= 50
