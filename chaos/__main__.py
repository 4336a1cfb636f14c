"""`python -m chaos` (`make chaos`): boot the real stack on a throwaway PostgreSQL cluster, run
the scenarios, print one line each, exit 1 if an invariant failed (docs/reliability.md)."""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

from chaos.result import Result
from chaos.scenarios import NOT_BUILT, SCENARIOS, Form
from chaos.stack import ChaosStack

# Past these the run stops itself, cleaning up: a hung scenario must not hold a CI machine.
BUDGET_S = {False: 20 * 60, True: 120 * 60}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="R3,R6",
                        help=f"run only these scenarios (built: {', '.join(SCENARIOS)}); repeatable")
    parser.add_argument("--long", action="store_true", help="the long form: longer faults, more load")
    parser.add_argument("--keep-logs", action="store_true", help="keep every process's log and print where")
    args = parser.parse_args(argv)
    wanted = [name.strip().upper() for value in args.only for name in value.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in SCENARIOS]
    if unknown:
        built = ", ".join(SCENARIOS)
        not_built = [n for n in unknown if n in NOT_BUILT]
        parser.error(f"unknown scenario {', '.join(unknown)} (built: {built}"
                     + (f"; not built yet: {', '.join(not_built)}" if not_built else "") + ")")
    args.names = wanted or list(SCENARIOS)
    return args


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"chaos: signal {signum}, stopping the stack")


@contextmanager
def booted_stack(keep_logs: bool = False, out: TextIO = sys.stdout) -> Iterator[ChaosStack]:
    """The stack every scenario of a run shares; always stopped, its cluster removed."""
    work_dir = Path(tempfile.mkdtemp(prefix="aula-chaos-"))
    stack = ChaosStack(work_dir)
    try:
        started = time.monotonic()
        print(f"chaos: booting the stack (PostgreSQL cluster, moto, web, worker, sqsd) in {work_dir}", file=out,
              flush=True)
        stack.boot()
        print(f"chaos: up in {time.monotonic() - started:.0f} s", file=out, flush=True)
        yield stack
    finally:
        stack.close()
        if keep_logs:
            print(f"chaos: logs kept in {work_dir}", file=out, flush=True)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


def run_one(stack: ChaosStack, name: str, form: Form, out: TextIO = sys.stdout) -> Result:
    """One scenario, its line printed; a scenario that crashed is a failed result, not an exit."""
    try:
        result = SCENARIOS[name](stack, form)
    except Exception as exc:  # noqa: BLE001 -- a scenario that crashed failed; the next still runs
        result = Result(name, "(crashed)")
        result.failures.append(f"{exc.__class__.__name__}: {exc}")
        result.notes.append(traceback.format_exc().strip().replace("\n", "\n    "))
    print(result.line(), file=out, flush=True)
    if result.notes or result.failures:
        print(result.detail(), file=out, flush=True)
    if not result.ok:
        print(stack.logs(1500), file=out, flush=True)
    return result


def run(names: Sequence[str], long: bool = False, keep_logs: bool = False, out: TextIO = sys.stdout) -> list[Result]:
    """Boot one stack, run `names` in order on it, always stop it; the results, in order."""
    with booted_stack(keep_logs, out) as stack:
        print(f"chaos: {'long' if long else 'short'} form: {', '.join(names)}", file=out, flush=True)
        return [run_one(stack, name, Form(long), out) for name in names]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGALRM, _on_signal)
    signal.alarm(BUDGET_S[args.long])
    try:
        results = run(args.names, args.long, args.keep_logs)
    finally:
        signal.alarm(0)
    left = [f"{name} ({what})" for name, what in NOT_BUILT.items()]
    print(f"chaos: not built yet: {'; '.join(left)}")
    failed = [r.name for r in results if not r.ok]
    print(f"chaos: {len(results) - len(failed)} of {len(results)} scenarios held"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
