"""Job metrics as embedded metric format lines: valid EMF, right values, never in the job's way."""
from __future__ import annotations

import json
import logging

import jsonschema
import pytest

from core import logs, metrics
from core.logs import configure_logging, log_context

# The document schema AWS publishes with the EMF specification (CloudWatch user guide,
# "Specification: Embedded metric format"), trimmed to the members Aula uses.
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer"},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array", "minItems": 1,
                                "items": {"type": "array", "minItems": 0, "maxItems": 30,
                                          "items": {"type": "string", "minLength": 1, "maxLength": 250}},
                            },
                            "Metrics": {
                                "type": "array", "maxItems": 100,
                                "items": {
                                    "type": "object", "required": ["Name"],
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1, "maxLength": 1024},
                                        "Unit": {"enum": ["Seconds", "Microseconds", "Milliseconds", "Bytes", "Count",
                                                          "Percent", "None"]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    metrics_level = logging.getLogger(logs.METRICS_LOGGER).level
    context = logs._context.set({})
    try:
        yield
    finally:
        logs._context.reset(context)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        logging.getLogger(logs.METRICS_LOGGER).setLevel(metrics_level)


def emitted(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def assert_valid_emf(document: dict) -> None:
    jsonschema.validate(document, EMF_SCHEMA)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension in {d for dimension_set in directive["Dimensions"] for d in dimension_set}:
            assert isinstance(document[dimension], str), dimension  # dimension targets are strings
        for metric in directive["Metrics"]:
            assert isinstance(document[metric["Name"]], (int, float)), metric  # metric targets are numbers


def test_a_failed_run_is_one_valid_emf_line_with_its_job_context(capsys):
    configure_logging("worker", "WARNING")  # metric lines ignore the log level
    with log_context(job_id="j-7", job_type="report", sqsd_msgid="m-1"):
        metrics.JobMetrics().job_finished("report", "failed", 12.34567, 3.5)
    (line,) = emitted(capsys)
    assert_valid_emf(line)
    assert (line["JobType"], line["Outcome"], line["JobFailed"], line["JobDuration"], line["JobQueueWait"], line["JobRuns"]) == (
        "report", "failed", 1, 12.346, 3.5, 1)
    assert (line["job_id"], line["sqsd_msgid"], line["role"], line["logger"]) == ("j-7", "m-1", "worker", "aula.metrics")
    assert line["message"] == "job report failed in 12.346 s"
    directives = line["_aws"]["CloudWatchMetrics"]
    assert directives[0]["Namespace"] == "Aula/Jobs" and directives[0]["Dimensions"] == [[], ["JobType"]]


def test_only_a_failed_outcome_counts_as_a_failure(capsys):
    configure_logging("worker")
    for outcome in ("succeeded", "retrying", "cancelled", "failed"):
        metrics.JobMetrics().job_finished("email", outcome, 1.0, None)
    assert [line["JobFailed"] for line in emitted(capsys)] == [0, 0, 0, 1]


def test_an_unknown_queue_wait_is_left_out_rather_than_reported_as_zero(capsys):
    configure_logging("worker")
    metrics.JobMetrics().job_finished("email", "succeeded", 0.2, None)
    (line,) = emitted(capsys)
    assert_valid_emf(line)
    assert "JobQueueWait" not in line
    assert "JobQueueWait" not in {m["Name"] for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def test_clock_skew_never_makes_a_negative_wait():
    fields = metrics.emf_fields("Aula/Jobs", "report", "succeeded", 1.0, -0.4, now_ms=1)
    assert fields["JobQueueWait"] == 0 and fields["_aws"]["Timestamp"] == 1


def test_the_namespace_comes_from_configuration(capsys):
    configure_logging("worker")
    metrics.JobMetrics("Aula-staging/Jobs").job_finished("report", "succeeded", 1.0, 1.0)
    (line,) = emitted(capsys)
    assert {d["Namespace"] for d in line["_aws"]["CloudWatchMetrics"]} == {"Aula-staging/Jobs"}


def test_a_bad_call_is_logged_and_does_not_raise(capsys):
    configure_logging("worker")
    metrics.JobMetrics().job_finished("", "failed", 1.0, None)
    (line,) = emitted(capsys)
    assert line["level"] == "WARNING" and "_aws" not in line and "ValueError" in line["exc_info"]
