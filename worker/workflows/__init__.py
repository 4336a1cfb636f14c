"""Step and compensation implementations of the workflows specified in core.jobs.workflows.

Each workflow module exposes STEPS: {step name: function} and UNDO: {step name: function};
a function takes (ctx, workflow) and returns a dict the workflow keeps in its context under
the step's name, for later steps and compensations to read.
"""
from __future__ import annotations

from typing import Any, Callable

from core.models import Workflow
from worker.context import JobContext

StepFunction = Callable[[JobContext, Workflow], dict[str, Any]]

# name of workflow -> (steps, compensations); filled in by the workflow modules below.
IMPLEMENTATIONS: dict[str, tuple[dict[str, StepFunction], dict[str, StepFunction]]] = {}

# Importing a workflow module registers it (at the bottom: the modules import IMPLEMENTATIONS).
from worker.workflows import seed  # noqa: E402,F401
