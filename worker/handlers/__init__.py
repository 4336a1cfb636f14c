"""The whitelist of job handlers. A message whose type is not here is refused."""
from __future__ import annotations

from typing import Any, Callable

from worker.context import JobContext
from worker.handlers import reports, workflow_step

Handler = Callable[[JobContext], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    "report": reports.build_report,
    "workflow_step": workflow_step.run_step,
}
