"""`make bench` (`python -m bench`): Aula's paths under load, each against a bare reference app
measured in the same run, printed as one table. See docs/performance.md.

Everything it needs it starts itself on 127.0.0.1 and free ports, and stops again even when it
fails or is interrupted; the database is a fresh SQLite file, or a throwaway database on the
PostgreSQL server of --database-url (BENCH_DATABASE_URL), dropped at the end. It writes
docs/performance.md only with --write-docs. A benchmark, not a test: targets missed are reported,
not failed (the exit status is non-zero only when a scenario could not be measured).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from pathlib import Path

from bench import docs, machine, table
from bench.context import Context, Options
from bench.database import throwaway
from bench.load import choose_generator
from bench.processes import ProcessGroup
from bench.rows import Row
from bench.scenarios import SCENARIOS, select
from bench.seed import seed
from bench.stack import Stack

QUICK = {"duration": 2.0, "warmup": 1.0}
# Canary jobs the worker rows may claim per second of load, with room to spare (it did ~150/s).
CANARIES_PER_SECOND = 600
FULL = {"duration": 12.0, "warmup": 2.0}
# Well below what the enqueue path serves on 2 cores (66–132 req/s at 32 connections), so a paced
# run measures a request's own latency rather than a queue in front of it.
PACED_RATE = 50.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                epilog="Scenarios: " + "; ".join(f"{s.name} ({s.summary})" for s in SCENARIOS))
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL") or None,
                   help="a PostgreSQL server to run on (a throwaway database is created there and dropped); "
                        "default: a fresh SQLite file. Env BENCH_DATABASE_URL")
    p.add_argument("--duration", type=float, help="seconds per run (default 12, --quick 2; whole seconds for wrk)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up before each run (default 2, --quick 1)")
    p.add_argument("--connections", type=int, default=32, help="concurrent connections (the worker rows use sqsd's)")
    p.add_argument("--rounds", type=int, default=1, help="runs of each path, each between two reference runs")
    p.add_argument("--paced-rate", type=float, default=PACED_RATE,
                   help=f"requests a second of the paced (open-loop) rows, sent by the Python generator on a fixed "
                        f"schedule whatever the answers take (default {PACED_RATE:g})")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 s per path, fewer rows")
    p.add_argument("--only", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                   help="comma-separated scenarios to run: " + ", ".join(s.name for s in SCENARIOS))
    p.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto",
                   help="load generator (auto: wrk when installed)")
    p.add_argument("--write-docs", action="store_true",
                   help="also replace this database's block of docs/performance.md with the results")
    p.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (kept anyway on failure)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.rounds < 1 or args.connections < 1:
        p.error("--rounds and --connections must be at least 1")
    if args.paced_rate <= 0:
        p.error("--paced-rate must be positive")
    try:
        scenarios = select(args.only, args.quick)
        generator = choose_generator(args.generator)
    except ValueError as exc:
        p.error(str(exc))
    defaults = QUICK if args.quick else FULL
    options = Options(duration=args.duration or defaults["duration"],
                      warmup=defaults["warmup"] if args.warmup is None else args.warmup,
                      connections=args.connections, rounds=args.rounds, quick=args.quick, generator=generator,
                      database_url=args.database_url, paced_rate=args.paced_rate)
    # SIGTERM unwinds like Ctrl-C, through every finally that stops a server or drops the database.
    signal.signal(signal.SIGTERM, _interrupt)
    work_dir = Path(tempfile.mkdtemp(prefix="aula-bench-"))
    keep = args.keep_logs
    try:
        report, failed, kind, suspect = run(scenarios, options, work_dir)
    except KeyboardInterrupt:
        print(f"\ninterrupted: every server was stopped; logs in {work_dir}", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - whatever broke, say where the logs are; the servers are stopped
        traceback.print_exc()
        print(f"make bench failed; every server was stopped; logs in {work_dir}", file=sys.stderr)
        return 1
    print(report)
    if args.write_docs:
        docs.write(kind, report)
        print(f"(docs/performance.md: the {kind} block rewritten)", file=sys.stderr)
    if failed:
        keep = True
        print(f"scenarios not measured: {', '.join(failed)}; logs in {work_dir}", file=sys.stderr)
    if suspect:
        keep = True
        print("some runs had errors or unexpected statuses (see the notes); the servers' logs say why", file=sys.stderr)
    if keep:
        print(f"logs kept in {work_dir}", file=sys.stderr)
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if failed else 0


def _interrupt(*_args: object) -> None:
    raise KeyboardInterrupt


def run(scenarios, options: Options, work_dir: Path) -> tuple[str, list[str], str, bool]:
    group = ProcessGroup(work_dir)
    rows: list[Row] = []
    failed: list[str] = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with ExitStack() as cleanup:
        database = cleanup.enter_context(throwaway(options.database_url, work_dir))
        cleanup.callback(group.close)  # runs first: servers stop before their database is dropped
        print(f"make bench on {database.version}", file=sys.stderr, flush=True)
        stack = Stack(group, database.url, work_dir)
        canaries = max(10_000, int(CANARIES_PER_SECOND * options.rounds * (options.duration + options.warmup)))
        ctx = Context(stack, lambda: seed(database.url, canaries=canaries), database, options, work_dir)
        header = machine.describe(database.version, options.generator)
        _settings(ctx)
        for scenario in scenarios:
            print(f"== {scenario.name}: {scenario.summary}", file=sys.stderr, flush=True)
            try:
                rows += scenario.measure(ctx)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one scenario failing must not lose the others' rows
                traceback.print_exc()
                failed.append(scenario.name)
                ctx.note(f"{scenario.name} was not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    where = "throwaway database" if database.kind == "postgresql" else "fresh SQLite file"
    lines = [f"`make bench` run of {started} on {database.version} ({where}).", ""]
    lines += [f"- {line}" for line in header + ctx.settings]
    lines += ["", table.render(rows, ctx.notes).rstrip("\n")]
    return "\n".join(lines) + "\n", failed, database.kind, ctx.suspect


def _settings(ctx: Context) -> None:
    web, worker = ctx.stack.gunicorn_settings("web"), ctx.stack.gunicorn_settings("worker")
    o = ctx.options
    ctx.setting(f"web tier: gunicorn.conf.py, APP_ROLE=web: {web.worker_class}, {web.workers} workers × "
                f"{web.threads} threads, timeout {web.timeout} s; worker tier: APP_ROLE=worker: {worker.worker_class}, "
                f"{worker.workers} workers; the reference apps run on the same file with the same settings "
                f"(web for a–c, worker for d)")
    ctx.setting(f"load: {o.connections} connections (worker rows: sqsd's {ctx.stack.sqsd.http_connections}), "
                f"{o.duration:g} s per run after {o.warmup:g} s of warm-up, {o.rounds} round(s), in the order "
                f"ref, path, ref, path, ..., ref; ratio = the path's req/s ÷ the mean of the reference runs just "
                f"before and after it (median over rounds); req/s, p50 and p99 are medians over a row's runs")


if __name__ == "__main__":
    sys.exit(main())
