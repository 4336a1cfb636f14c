"""Runs one step (or compensation) of a workflow. The step's domain writes, its outcome and
the enqueueing of what comes next commit in one transaction (see core.jobs.workflows)."""
from __future__ import annotations

from typing import Any

from core.jobs.types import WORKFLOW_STEP, WorkflowStepPayload
from core.models import Workflow
from worker.context import JobContext
from worker.errors import PermanentJobError
from worker.handlers import handles
from worker.workflows import registry


@handles(WORKFLOW_STEP)
def run_step(ctx: JobContext, payload: WorkflowStepPayload) -> dict[str, Any]:
    workflow = ctx.session.get(Workflow, ctx.job.workflow_id)
    if workflow is None:
        raise PermanentJobError("the workflow of this step no longer exists")
    step = ctx.job.step or ""
    # Registered by the workflow modules, which the worker app loads and checks at start-up.
    function = registry.find(workflow.name, step)
    if function is None:
        raise PermanentJobError(f"workflow {workflow.name!r} has no step {step!r}")
    return function(ctx, workflow)
