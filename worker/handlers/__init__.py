"""The whitelist of job handlers. A message whose type is not here is refused."""
from __future__ import annotations

from typing import Any, Callable

from worker.context import JobContext
from worker.handlers import activities, email, reports, workflow_step

Handler = Callable[[JobContext], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    "report": reports.build_report,
    "email": email.send_email,
    "activity_fanout": activities.fan_out,
    "activity_summary": activities.summarize,
    "workflow_step": workflow_step.run_step,
}
