"""Runs one step (or compensation) of a workflow. The step's domain writes, its outcome and
the enqueueing of what comes next commit in one transaction (see core.jobs.workflows)."""
from __future__ import annotations

from typing import Any

from core.jobs.errors import PermanentJobError
from core.jobs.workflows import UNDO
from core.models import Workflow
from worker.context import JobContext
from worker.workflows import IMPLEMENTATIONS


def run_step(ctx: JobContext) -> dict[str, Any]:
    workflow = ctx.session.get(Workflow, ctx.job.workflow_id)
    if workflow is None:
        raise PermanentJobError("the workflow of this step no longer exists")
    steps, undo = IMPLEMENTATIONS[workflow.name]
    step = ctx.job.step or ""
    function = undo.get(step[len(UNDO):]) if step.startswith(UNDO) else steps.get(step)
    if function is None:
        raise PermanentJobError(f"workflow {workflow.name!r} has no step {step!r}")
    return function(ctx, workflow)
