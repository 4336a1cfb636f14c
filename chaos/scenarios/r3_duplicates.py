"""R3: every message delivered three times at once; every effect exactly once."""
from __future__ import annotations

import time
import uuid
from datetime import datetime

import sqlalchemy as sa

from chaos import count
from chaos.load import Load
from chaos.result import Result
from chaos.scenarios.common import Form, count_load, mixed_calls, now, teacher_classes
from chaos.stack import ChaosStack


def _ran_twice(stack: ChaosStack, since: datetime) -> int:
    """Jobs claimed more than once although nothing made them retry."""
    with stack.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM jobs WHERE created_at >= :s AND attempts > 1"),
                            {"s": since}).scalar_one()



def r3_duplicate_deliveries(stack: ChaosStack, form: Form) -> Result:
    """Every message delivered three times at once (local sqsd SQSD_DUPLICATE_DELIVERIES=3)
    while reports are asked for and activities published: every effect exactly once."""
    result = Result("R3", "every message delivered 3x at once")
    tag = f"R3-{uuid.uuid4().hex[:6]}"
    stack.restart_sqsd(SQSD_DUPLICATE_DELIVERIES="3")
    try:
        since = now()
        load = Load(stack.web, stack.login(), mixed_calls(teacher_classes(stack), tag, 3),
                    rate=form.pick(1.0, 3.0)).start()
        time.sleep(form.pick(12, 90))
        outcome = load.stop()
        ended = time.monotonic()
        count_load(stack, result, outcome, since, tag, timeout=form.pick(180, 600))
        result.recover_s = time.monotonic() - ended
        result.p99_ms = outcome.p99_ms()
        twice = _ran_twice(stack, since)
        result.duplicated += twice
        result.check(twice == 0, f"{twice} jobs ran more than once")
        reports = count.report_jobs(stack.engine, outcome.accepted())
        files = count.report_files(stack.env())
        result.notes.append(f"{len(reports)} reports, files {sum(files[str(r)] for r in reports)}")
        result.check(all(files[str(r)] == 1 for r in reports), "a report without exactly one file")
    finally:
        stack.restart_sqsd()
    return result
