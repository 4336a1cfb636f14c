"""R5: PostgreSQL stopped (fast and immediate) mid-load and started again."""
from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from chaos import count
from chaos.load import Load, Prober
from chaos.result import Result
from chaos.scenarios.common import Form, mixed_calls, now, settle_accepted, tally_emails, teacher_classes
from chaos.stack import ChaosStack

GUNICORN_TIMEOUT_S = 30  # the web tier's (gunicorn.conf.py): no request may take longer
HEALTH_DETECT_S = 6  # /healthz shares one ping per process (core.db.Reachability): "a few seconds"
# A job whose run was cut by the outage keeps its lease (time limit + 30 s; a report's is 330 s)
# until reclaim-stalled takes it back: the recovery bound must let that happen once.
R5_SETTLE_S = 420


def _health_while(probes, start: float, end: float) -> Counter:
    return Counter(p.status for p in probes if start <= p.sent and p.done <= end)


def r5_database_stopped(stack: ChaosStack, form: Form) -> Result:
    """The run's own PostgreSQL stopped mid-load, once with pg_ctl's fast shutdown and once with
    immediate (a crash: recovery from the WAL on start), and started again each time."""
    result = Result("R5", "PostgreSQL stopped (fast, immediate)")
    tag = f"R5-{uuid.uuid4().hex[:6]}"
    before, down, between = form.pick((8, 15, 15), (20, 60, 30))
    since = now()
    load = Load(stack.web, stack.login(), mixed_calls(teacher_classes(stack), tag, 4),
                rate=form.pick(2.0, 4.0)).start()
    prober = Prober(stack.web).start()
    windows: list[tuple[str, float, float]] = []
    try:
        time.sleep(before)
        for mode in ("fast", "immediate"):
            stopped = time.monotonic()
            stack.cluster.stop(mode)
            time.sleep(down)
            started = time.monotonic()
            stack.cluster.start()
            windows.append((mode, stopped, started))
            time.sleep(between)
    finally:
        if not stack.cluster.running():
            stack.cluster.start()
        outcome = load.stop()
        probes = prober.stop()
    restarted_at = datetime.now(UTC)
    for mode, stopped, started in windows:
        while_down = _health_while(probes, stopped + HEALTH_DETECT_S, started)
        back = [p for p in probes if p.sent >= started and p.status == 200]
        result.notes.append(f"{mode} stop: /healthz while down {dict(while_down)}, "
                            f"200 again {back[0].done - started:.1f} s after the start" if back else
                            f"{mode} stop: /healthz while down {dict(while_down)}, never 200 again")
        result.check(bool(while_down) and set(while_down) == {503}, f"/healthz while the database was down "
                                                                    f"({mode}): {dict(while_down)}, not only 503")
        result.check(bool(back) and back[0].done - started <= HEALTH_DETECT_S + 10,
                     f"/healthz not 200 within {HEALTH_DETECT_S + 10} s of the {mode} start")
    slowest = max((p.done - p.sent for p in probes), default=0.0)
    hung = [s for s in outcome.samples if s.status is None]
    result.check(not hung, f"{len(hung)} requests got no answer (hung or cut)")
    result.check(slowest < GUNICORN_TIMEOUT_S, f"a /healthz took {slowest:.1f} s")
    result.p99_ms = outcome.p99_ms(windows[0][1], windows[-1][2]) if windows else None
    result.notes.append(f"requests {dict(outcome.statuses())}; slowest /healthz {slowest:.2f} s; "
                        f"slowest request {max((s.latency_ms for s in outcome.samples), default=0) / 1000:.1f} s "
                        f"from its due time")
    result.check(max((s.latency_ms for s in outcome.samples), default=0) < GUNICORN_TIMEOUT_S * 1000,
                 "a request took longer than the gunicorn timeout")
    settle_accepted(stack, result, outcome.accepted(), since, R5_SETTLE_S)
    result.recover_s = max(0.0, (count.last_finished(stack.engine, since) - restarted_at).total_seconds())
    tally_emails(stack, result, since, tag)
    return result
