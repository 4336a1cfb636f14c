"""bench/wrk.py: the plan file the Lua script reads, the command line, and the result line."""
from __future__ import annotations

import pytest

from bench import wrk
from bench.load import Item, LoadError, Plan

WRK_OUTPUT = """Running 12s test @ http://127.0.0.1:40123
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.34ms    5.67ms 210.00ms   90.00%
  24000 requests in 12.00s, 5.00MB read
  Non-2xx or 3xx responses: 7
Requests/sec:   2000.00
BENCH_RESULT {"requests": 24000, "duration_us": 12000000, "connect": 1, "read": 2, "write": 0, "status": 7, "timeout": 3, "p50_us": 11500, "p90_us": 20000, "p99_us": 48250, "max_us": 210000}
"""


def test_the_result_line_gives_rate_latencies_and_errors():
    result = wrk.parse(WRK_OUTPUT)
    assert result.generator == "wrk"
    assert result.requests == 24000 and result.seconds == 12.0 and result.rps == 2000.0
    assert (result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms) == (11.5, 20.0, 48.25, 210.0)
    assert result.errors == 6  # connect + read + write + timeout
    assert result.unexpected == 7  # wrk's non-2xx/3xx count


def test_output_without_the_result_line_is_an_error_naming_what_wrk_said():
    with pytest.raises(LoadError, match="unable to connect"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_plan_file_has_one_line_per_item_path_headers_body():
    plan = Plan("p", "http://127.0.0.1:1", "POST", (
        Item("/a", (("Authorization", "Bearer t"), ("Content-Type", "application/json")), '{"title": "x {seq}"}'),
        Item("/b"),
    ), 4, 202)
    assert wrk.plan_lines(plan) == (
        '/a\tAuthorization: Bearer t\x1eContent-Type: application/json\t{"title": "x {seq}"}\n'
        "/b\t\t\n"
    )


def test_command_uses_at_most_two_threads_a_long_timeout_and_passes_the_plan():
    plan = Plan("p", "http://127.0.0.1:1", "GET", (Item("/x"),), 32, 200)
    argv = wrk.command(plan, 12, "/tmp/plan.tsv", "tag1")  # type: ignore[arg-type]
    assert argv[:5] == ["wrk", "-t2", "-c32", "-d12s", "--timeout"]
    assert argv[argv.index("--") + 1:] == ["GET", "/tmp/plan.tsv", "tag1", "2"]
    one = Plan("p", "http://127.0.0.1:1", "GET", (Item("/x"),), 1, 200)
    assert "-t1" in wrk.command(one, 2, "/tmp/plan.tsv", "t")  # type: ignore[arg-type]


def test_items_that_would_break_the_plan_file_are_refused():
    with pytest.raises(ValueError, match="tabs, newlines"):
        Plan("p", "http://127.0.0.1:1", "POST", (Item("/a", (), "a\tb"),), 1, 200)
