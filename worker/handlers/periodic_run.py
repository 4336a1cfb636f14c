"""The `periodic_run` job (core/jobs/types.py PERIODIC_RUN): the console's "run now" of a periodic
task. It runs the task exactly as sqsd's cron POST does (worker/tasks.py run_task), under the
task's lease, so it never overlaps a cron run: when the lease is held the run is recorded as
skipped and the job succeeds saying so."""
from __future__ import annotations

from typing import Any

from core.jobs.types import PERIODIC_RUN, PeriodicRunPayload
from worker.context import JobContext
from worker.errors import PermanentJobError
from worker.handlers import handles
from worker.tasks import TASKS, run_task


@handles(PERIODIC_RUN)
def run_periodic_task(ctx: JobContext, payload: PeriodicRunPayload) -> dict[str, Any]:
    if payload.task not in TASKS:
        raise PermanentJobError(f"no periodic task named {payload.task!r}")
    # The handler's session has written nothing: the task's own sessions do the work and commit
    # (on SQLite a write here first would make them wait for this transaction).
    counts = run_task(ctx.services, payload.task, trigger="manual", requested_by=ctx.job.owner_id)
    return {"task": payload.task, **counts}
