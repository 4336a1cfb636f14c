"""R1: SQS unavailable under load; nothing lost, the web tier's p99 unaffected."""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from chaos import count
from chaos.load import Load
from chaos.result import Result
from chaos.scenarios.common import P99_UNAFFECTED_MS, RECOVERY_S, Form, count_load, mixed_calls, now, teacher_classes
from chaos.stack import ChaosStack


def r1_sqs_unavailable(stack: ChaosStack, form: Form) -> Result:
    """moto (SQS, and with it S3 and SES) stopped with SIGSTOP: it holds every connection and
    answers nothing, the worst way to be down. Load runs before, during and after."""
    result = Result("R1", "SQS unavailable (moto SIGSTOPped)")
    tag = f"R1-{uuid.uuid4().hex[:6]}"
    before, outage, after = form.pick((10, 30, 10), (20, 60, 20))
    since = now()
    load = Load(stack.web, stack.login(), mixed_calls(teacher_classes(stack), tag, 4),
                rate=form.pick(2.0, 4.0)).start()
    moto = stack.process("moto")
    try:
        time.sleep(before)
        paused = time.monotonic()
        moto.pause()
        time.sleep(outage)
    finally:
        moto.resume()
    resumed, resumed_at = time.monotonic(), datetime.now(UTC)
    time.sleep(after)
    outcome = load.stop()
    settled = count_load(stack, result, outcome, since, tag, timeout=max(5.0, resumed + RECOVERY_S - time.monotonic()))
    # The last job's own finish, not when the count looked: jobs accepted after the outage count too.
    result.recover_s = max(0.0, (count.last_finished(stack.engine, since) - resumed_at).total_seconds())
    result.p99_ms = outcome.p99_ms(paused, resumed)
    result.notes.append(f"web p99 before the outage {outcome.p99_ms(0, paused):.0f} ms, during "
                        f"{result.p99_ms:.0f} ms, after {outcome.p99_ms(resumed):.0f} ms")
    result.check(result.p99_ms <= P99_UNAFFECTED_MS,
                 f"web p99 {result.p99_ms:.0f} ms during the outage: requests waited for SQS")
    result.check(result.stuck == 0 and settled.stuck == 0,
                 f"jobs still open {RECOVERY_S} s after SQS came back")
    return result
