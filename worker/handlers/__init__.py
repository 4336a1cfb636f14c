"""The worker's handlers, one per job type declared in core/jobs/types.py, each registered with
`@handles(DECLARATION)` next to its code. `load()` imports every handler module; the worker app
refuses to start when `check_handlers()` finds a declared type without a handler, or a handler
for a type that is not declared."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.jobs.contract import JobType, Payload
from core.jobs.types import JOB_TYPES
from worker.context import JobContext

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class Handler(Generic[P]):
    job_type: JobType[P]
    run: Callable[[JobContext, P], dict[str, Any]]


HANDLERS: dict[str, Handler[Any]] = {}


def handles(job_type: JobType[P]) -> Callable[[Callable[[JobContext, P], dict[str, Any]]], Callable[..., Any]]:
    def register(run: Callable[[JobContext, P], dict[str, Any]]) -> Callable[..., Any]:
        if job_type.name in HANDLERS:
            raise RuntimeError(f"job type {job_type.name!r} has two handlers: "
                               f"{HANDLERS[job_type.name].run.__qualname__} and {run.__qualname__}")
        HANDLERS[job_type.name] = Handler(job_type, run)
        return run

    return register


def load() -> dict[str, Handler[Any]]:
    """Import every handler module (each registers itself) and return the registry."""
    from worker.handlers import (  # noqa: F401
        activities,
        activity_notices,
        canary,
        digests,
        email,
        grades,
        ops_bulk,
        periodic_run,
        reminders,
        reports,
        roster,
        submissions,
        workflow_step,
    )

    return HANDLERS


def check_handlers(handlers: Mapping[str, Handler[Any]] | None = None,
                   declared: Mapping[str, JobType[Any]] = JOB_TYPES) -> list[str]:
    """Every problem between the declarations and the registered handlers, one line each."""
    handlers = load() if handlers is None else handlers
    problems = [f"job type {name!r} is declared in core/jobs/types.py but has no handler"
                for name in declared if name not in handlers]
    problems += [f"handler {handler.run.__module__}.{handler.run.__qualname__} names job type {name!r}, "
                 "which core/jobs/types.py does not declare"
                 for name, handler in handlers.items() if declared.get(name) is not handler.job_type]
    return problems
