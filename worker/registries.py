"""The worker's start-up check: everything core/jobs declares has its implementation here, and
nothing is implemented that is not declared. Job types (worker/handlers), workflow steps and
their compensations (worker/workflows), and periodic tasks (worker/tasks.py)."""
from __future__ import annotations

from worker import tasks, workflows
from worker.handlers import check_handlers


def problems() -> list[str]:
    """Every mismatch between the declarations and the worker's registries, one line each
    (loading every handler and workflow module first)."""
    return [*check_handlers(), *workflows.problems(), *tasks.problems()]


def check_registries() -> None:
    """Raise RuntimeError naming every mismatch: the worker app refuses to start rather than fail
    each message of a type, a step or a task that nobody implements."""
    found = problems()
    if found:
        raise RuntimeError("the worker cannot start:\n  - " + "\n  - ".join(found))
