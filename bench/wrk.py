"""Running a plan with wrk: the plan file bench/wrk_plan.lua reads, the command line, and the
JSON line its done() prints (latencies in microseconds, errors by kind)."""
from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from bench.load import LoadError, LoadResult, Plan

SCRIPT = Path(__file__).with_name("wrk_plan.lua")
MARKER = "BENCH_RESULT "
# Above gunicorn's 30 s request timeout: a request held up by a paused SQS is measured, not
# dropped as a wrk timeout (wrk's default is 2 s).
REQUEST_TIMEOUT = "35s"
MAX_THREADS = 2  # the machine has two cores; more wrk threads only take them from the servers


def plan_lines(plan: Plan) -> str:
    return "".join(f"{item.path}\t{chr(0x1e).join(f'{k}: {v}' for k, v in item.headers)}\t{item.body or ''}\n"
                   for item in plan.items)


def command(plan: Plan, seconds: int, plan_file: Path, tag: str) -> list[str]:
    threads = max(1, min(MAX_THREADS, plan.connections))
    return ["wrk", f"-t{threads}", f"-c{plan.connections}", f"-d{seconds}s", "--timeout", REQUEST_TIMEOUT,
            "-s", str(SCRIPT), plan.base_url, "--", plan.method, str(plan_file), tag, str(threads)]


def parse(output: str) -> LoadResult:
    """The LoadResult in wrk's output; LoadError when the done() line is missing (wrk failed)."""
    line = next((ln for ln in output.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise LoadError(f"wrk printed no result line:\n{output[-2000:]}")
    data = json.loads(line[len(MARKER):])
    return LoadResult(
        generator="wrk",
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        unexpected=data["status"],
    )


def run(plan: Plan, seconds: float, work_dir: str) -> LoadResult:
    tag = uuid.uuid4().hex[:8]
    plan_file = Path(work_dir) / f"plan-{plan.name}-{tag}.tsv"
    plan_file.write_text(plan_lines(plan), encoding="utf-8")
    whole = max(1, round(seconds))  # wrk takes whole seconds
    try:
        done = subprocess.run(command(plan, whole, plan_file, tag), capture_output=True, text=True,
                              timeout=whole + 60, check=False)
    finally:
        plan_file.unlink(missing_ok=True)
    if done.returncode != 0:
        raise LoadError(f"wrk exited with {done.returncode}:\n{done.stdout[-1000:]}{done.stderr[-1000:]}")
    return parse(done.stdout)
