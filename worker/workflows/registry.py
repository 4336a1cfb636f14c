"""The worker's implementations of the workflow steps declared in core/jobs/workflows.py.

A workflow module registers each function against the declaration it implements:

    @step(SEED_INSTITUTION, "people")
    def people(ctx, workflow): ...

    @compensation(SEED_INSTITUTION, "people")
    def undo_people(ctx, workflow): ...

A function takes (ctx, workflow) and returns a dict the workflow keeps in its context under the
step's name, for later steps and compensations to read. Registering a step the declaration does
not name, a compensation for a step declared not compensable, or a second function for one step
raises at import. `problems()` lists what is declared but not implemented (and the reverse).

This module imports no workflow module: `load()` and `check_workflows()` in
worker/workflows/__init__.py import them, and the worker app refuses to start unless the check
passes (worker/registries.py).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.jobs.workflows import UNDO, WORKFLOWS, WorkflowSpec
from core.models import Workflow
from worker.context import JobContext

StepFunction = Callable[[JobContext, Workflow], dict[str, Any]]

# name of workflow -> name of step -> function
STEPS: dict[str, dict[str, StepFunction]] = {}
COMPENSATIONS: dict[str, dict[str, StepFunction]] = {}


def step(spec: WorkflowSpec, name: str) -> Callable[[StepFunction], StepFunction]:
    """Register the function that runs step `name` of the workflow `spec`."""
    return _registrar(STEPS, "step", spec, name)


def compensation(spec: WorkflowSpec, name: str) -> Callable[[StepFunction], StepFunction]:
    """Register the function that undoes step `name` of the workflow `spec`."""
    declared = _declared_step(spec, name, "compensation")
    if not declared.compensable:
        raise RuntimeError(f"workflow {spec.name!r} declares step {name!r} not compensable "
                           "(core/jobs/workflows.py): it takes no compensation")
    return _registrar(COMPENSATIONS, "compensation", spec, name)


def _declared_step(spec: WorkflowSpec, name: str, kind: str) -> Any:
    for declared in spec.steps:
        if declared.name == name:
            return declared
    raise RuntimeError(f"cannot register a {kind} for step {name!r} of workflow {spec.name!r}: "
                       f"core/jobs/workflows.py declares only {', '.join(s.name for s in spec.steps)}")


def _registrar(table: dict[str, dict[str, StepFunction]], kind: str, spec: WorkflowSpec,
               name: str) -> Callable[[StepFunction], StepFunction]:
    _declared_step(spec, name, kind)

    def register(function: StepFunction) -> StepFunction:
        functions = table.setdefault(spec.name, {})
        if name in functions:
            raise RuntimeError(f"step {name!r} of workflow {spec.name!r} has two {kind}s: "
                               f"{_qualified(functions[name])} and {_qualified(function)}")
        functions[name] = function
        return function

    return register


def find(workflow: str, step_name: str) -> StepFunction | None:
    """The function for a step job's `step` ("people", or "undo:people" for its compensation)."""
    if step_name.startswith(UNDO):
        return COMPENSATIONS.get(workflow, {}).get(step_name[len(UNDO):])
    return STEPS.get(workflow, {}).get(step_name)


def problems(declared: Mapping[str, WorkflowSpec] | None = None) -> list[str]:
    """Every mismatch between the declared workflows and the registered functions, one line each."""
    declared = WORKFLOWS if declared is None else declared
    found: list[str] = []
    for spec in declared.values():
        steps, undo = STEPS.get(spec.name, {}), COMPENSATIONS.get(spec.name, {})
        for declared_step in spec.steps:
            if declared_step.name not in steps:
                found.append(f"step {declared_step.name!r} of workflow {spec.name!r} is declared in "
                             "core/jobs/workflows.py but has no implementation")
            if declared_step.compensable and declared_step.name not in undo:
                found.append(f"step {declared_step.name!r} of workflow {spec.name!r} is declared compensable "
                             "but has no compensation")
    for kind, table in (("step", STEPS), ("compensation", COMPENSATIONS)):
        for workflow, functions in table.items():
            spec = declared.get(workflow)
            for name, function in functions.items():
                if spec is None:
                    found.append(f"{kind} {_qualified(function)} is registered for workflow {workflow!r}, "
                                 "which core/jobs/workflows.py does not declare")
                elif not any(s.name == name and (kind == "step" or s.compensable) for s in spec.steps):
                    what = "a compensable step" if kind == "compensation" else "a step"
                    found.append(f"{kind} {_qualified(function)} is registered for {name!r} of workflow "
                                 f"{workflow!r}, which core/jobs/workflows.py does not declare as {what}")
    return found


def _qualified(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
