"""Job metrics as CloudWatch embedded metric format (EMF) log lines.

Only the worker's runner emits them; the module stays in core because the shared app factory
builds JobMetrics from Settings and the ops stack's alarms (infra/aula-ops.yaml) are written
against these names (tests/deploy reads both).

Each finished job run writes one JSON log line holding its measurements and an `_aws` block
that tells CloudWatch Logs to extract them as metrics when the line arrives: no PutMetricData
call per job, no extra permission, and the values sit next to the job's other log lines (job id,
request id, sqsd message id). The line goes through logging, so it reaches stdout and, when
CLOUDWATCH_LOG_GROUP is set, the shipped log group, where the extraction happens (EMF needs the
whole event to be the JSON object, which only the shipped copy is: EB's own copy of stdout adds a
syslog prefix).

Metrics, in namespace METRICS_NAMESPACE (default "Aula/Jobs"):

| metric         | unit    | dimensions                   | meaning                                        |
|----------------|---------|------------------------------|------------------------------------------------|
| `JobFailed`    | Count   | none; `JobType`              | 1 for a run that left the job `failed`, else 0: Average is the failure rate, Sum the failures, SampleCount the runs |
| `JobDuration`  | Seconds | none; `JobType`              | wall time of the run                           |
| `JobQueueWait` | Seconds | none; `JobType`              | from when the job could start (enqueued, or its retry was due) to when this run started |
| `JobRuns`      | Count   | `Outcome`                    | 1 per run, to graph outcomes                   |

The alarms in infra/aula-ops.yaml read these names; tests/deploy check they match. The app
factory builds one JobMetrics per app with the namespace from the settings (core.app.Services).
"""
from __future__ import annotations

import logging
import time

from core.logs import METRICS_LOGGER

DEFAULT_NAMESPACE = "Aula/Jobs"
FAILED = "failed"

_log = logging.getLogger(METRICS_LOGGER)


class JobMetrics:
    def __init__(self, namespace: str = DEFAULT_NAMESPACE):
        self.namespace = namespace

    def job_finished(self, job_type: str, outcome: str, duration_seconds: float | None,
                     queue_wait_seconds: float | None) -> None:
        """Record one finished run of a job. `outcome` is what the run ended in (e.g. "succeeded",
        "failed", "retrying", "cancelled"); only "failed" counts as a failure. A duration or queue
        wait is None when unknown (a run whose worker died), and then left out of the line.

        Never raises: a metric must not change what happens to the job.
        """
        try:
            # A dict message: the JSON formatter merges it into the line as is, `_aws` included
            # (it drops underscore-prefixed `extra` fields).
            _log.info({
                "message": f"job {job_type} {outcome} "
                           + (f"in {duration_seconds:.3f} s" if duration_seconds is not None else "(run time unknown)"),
                **emf_fields(self.namespace, job_type, outcome, duration_seconds, queue_wait_seconds),
            })
        except Exception:  # noqa: BLE001  (whatever went wrong, the job's outcome stands)
            _log.warning("could not record the metrics of a %s job", job_type, exc_info=True)


def emf_fields(namespace: str, job_type: str, outcome: str, duration_seconds: float | None,
               queue_wait_seconds: float | None, now_ms: int | None = None) -> dict:
    """The top-level members of the EMF document for one run (the log line adds its own fields)."""
    if not job_type or not outcome:
        raise ValueError("job_type and outcome must be non-empty")
    # Clocks of the web and worker instances differ a little; a wait is never negative.
    values: dict[str, float] = {"JobFailed": 1 if outcome == FAILED else 0}
    per_type = [{"Name": "JobFailed", "Unit": "Count"}]
    if duration_seconds is not None:
        values["JobDuration"] = round(max(duration_seconds, 0.0), 3)
        per_type.append({"Name": "JobDuration", "Unit": "Seconds"})
    if queue_wait_seconds is not None:
        values["JobQueueWait"] = round(max(queue_wait_seconds, 0.0), 3)
        per_type.append({"Name": "JobQueueWait", "Unit": "Seconds"})
    return {
        "_aws": {
            "Timestamp": now_ms if now_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                # [] is the total over every job type: the alarms watch it, so a new job type is
                # covered without touching them.
                {"Namespace": namespace, "Dimensions": [[], ["JobType"]], "Metrics": per_type},
                {"Namespace": namespace, "Dimensions": [["Outcome"]], "Metrics": [{"Name": "JobRuns", "Unit": "Count"}]},
            ],
        },
        "JobType": job_type,
        "Outcome": outcome,
        "JobRuns": 1,
        **values,
    }
