"""The same JSON lines shipped to CloudWatch Logs through watchtower, read back from moto.

The log group exists beforehand (infra/aula-ops.yaml creates it); the app only writes streams.
"""
from __future__ import annotations

import json
import logging
import runpy
from types import SimpleNamespace

import boto3
import pytest

from core import logs
from core.jobs.outbox import envelope_for
from core.logs import configure_logging, log_context, ship_to_cloudwatch, stop_shipping
from tests.conftest import REGION
from tests.deploy.files import ROOT
from tests.sqsd import deliver
from tests.worker.conftest import make_job, probe  # noqa: F401  (fixtures)
from worker.errors import PermanentJobError

GROUP = "/aula/test-app"


@pytest.fixture(autouse=True)
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    context = logs._context.set({})
    try:
        yield
    finally:
        stop_shipping()
        logs._context.reset(context)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def cloudwatch(aws):
    client = boto3.client("logs", region_name=REGION)
    client.create_log_group(logGroupName=GROUP)
    try:
        yield client
    finally:
        client.delete_log_group(logGroupName=GROUP)


def shipped(client) -> list[tuple[str, dict]]:
    """Every event in the group, as (stream name, the JSON object it carries)."""
    events = []
    for stream in client.describe_log_streams(logGroupName=GROUP)["logStreams"]:
        name = stream["logStreamName"]
        for event in client.get_log_events(logGroupName=GROUP, logStreamName=name, startFromHead=True)["events"]:
            events.append((name, json.loads(event["message"])))
    return events


def test_records_arrive_as_json_with_their_context_in_a_stream_named_after_the_role(cloudwatch, capsys):
    configure_logging("worker")
    ship_to_cloudwatch("worker", GROUP, "{role}/{machine_name}/{process_id}", cloudwatch)
    with log_context(job_id="j-42", job_type="report", sqsd_msgid="m-9", receive_count=2):
        logging.getLogger("aula.test").error("report failed: %s", "no such class")
    stop_shipping()  # what a worker's exit does: deliver what is queued

    ((stream, line),) = shipped(cloudwatch)
    assert stream.startswith("worker/")
    assert (line["level"], line["logger"], line["message"], line["role"]) == ("ERROR", "aula.test", "report failed: no such class", "worker")
    assert (line["job_id"], line["job_type"], line["sqsd_msgid"], line["receive_count"]) == ("j-42", "report", "m-9", 2)
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == line  # the same line as on stdout


def test_the_aws_sdks_own_records_stay_on_stdout(cloudwatch, capsys):
    # Shipping them would make botocore log again while it ships, without end.
    configure_logging("web")
    ship_to_cloudwatch("web", GROUP, "{role}/{process_id}", cloudwatch)
    logging.getLogger("botocore.endpoint").warning("retrying a request")
    logging.getLogger("urllib3.connectionpool").warning("connection pool is full")
    logging.getLogger("aula.test").warning("ours")
    stop_shipping()
    assert [line["message"] for _, line in shipped(cloudwatch)] == ["ours"]
    assert "retrying a request" in capsys.readouterr().out


def test_nothing_queued_is_lost_when_shipping_stops(cloudwatch):
    configure_logging("worker")
    # A send interval far beyond the test: only the flush at exit can deliver these.
    ship_to_cloudwatch("worker", GROUP, "{role}/{process_id}", cloudwatch, send_interval=3600)
    for number in range(250):
        logging.getLogger("aula.test").info("line %d", number)
    stop_shipping()
    stop_shipping()  # a second call (worker_abort then worker_exit) is harmless
    assert [line["message"] for _, line in shipped(cloudwatch)] == [f"line {n}" for n in range(250)]


def test_a_stream_name_watchtower_cannot_fill_is_refused_at_start(cloudwatch):
    with pytest.raises(ValueError, match="logger_id"):
        ship_to_cloudwatch("web", GROUP, "{role}/{logger_id}", cloudwatch)


def test_the_gunicorn_hooks_ship_after_the_fork_and_flush_at_exit(cloudwatch, monkeypatch, tmp_path):
    for name, value in {"APP_ROLE": "web", "SECRET_KEY": "hook-test-secret-key-123-0123456789ab", "S3_BUCKET": "b",
                        "SQS_QUEUE_URL": "http://127.0.0.1:9/q", "AWS_REGION": REGION, "CLOUDWATCH_LOG_GROUP": GROUP,
                        "METRICS_NAMESPACE": "Aula-hooks/Jobs",
                        "DATABASE_URL": f"sqlite:///{tmp_path}/unused.sqlite3"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("CLOUDWATCH_LOG_STREAM", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    # What a gunicorn worker does after the fork: build the app (wsgi_app), then call the hook.
    module, call = hooks["wsgi_app"].split(":")
    app = runpy.run_path(str(ROOT / f"{module}.py"))[call.removesuffix("()")]()
    worker = SimpleNamespace(pid=4242, wsgi=app)
    try:
        hooks["post_worker_init"](worker)
        app.extensions["aula"].metrics.job_finished("report", "succeeded", 1.5, 0.25)
        hooks["worker_exit"](SimpleNamespace(), worker)
    finally:
        app.extensions["aula"].db.dispose()

    # The metrics line; the web worker's first queue reading (at boot, in the background) may
    # add its own warning, SQS being unreachable here.
    ((stream, line),) = [(s, line) for s, line in shipped(cloudwatch) if "_aws" in line]
    assert stream.startswith("web/")
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Aula-hooks/Jobs"  # EMF reaches the log group intact
    assert (line["JobType"], line["JobDuration"], line["JobQueueWait"]) == ("report", 1.5, 0.25)


def test_the_gunicorn_hook_leaves_an_app_that_failed_to_load_alone(cloudwatch, monkeypatch):
    monkeypatch.setenv("CLOUDWATCH_LOG_GROUP", GROUP)
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    def error_page(environ, start_response):  # what `gunicorn --reload` serves then
        return []

    hooks["post_worker_init"](SimpleNamespace(pid=4242, wsgi=error_page))
    logging.getLogger("aula.test").error("not shipped")
    hooks["worker_exit"](SimpleNamespace(), SimpleNamespace(pid=4242))
    assert shipped(cloudwatch) == []


def test_a_failing_jobs_log_line_reaches_cloudwatch_with_its_job_id(worker_client, make_job, probe, cloudwatch):  # noqa: F811
    ship_to_cloudwatch("worker", GROUP, "{role}/{machine_name}/{process_id}", cloudwatch)

    def fail(ctx):
        raise PermanentJobError("class 99 does not exist")

    probe.behaviour = fail
    job = make_job()
    response = deliver(worker_client, envelope_for(job).to_json(), msgid="msg-failing-1")
    assert response.status_code == 200 and response.get_json()["outcome"] == "failed"
    stop_shipping()

    lines = [line for _, line in shipped(cloudwatch) if line.get("job_id") == str(job.id)]
    failure = [line for line in lines if line["level"] == "ERROR"]
    assert failure, lines
    assert "class 99 does not exist" in failure[0]["message"]
    assert (failure[0]["job_type"], failure[0]["sqsd_msgid"], failure[0]["role"]) == ("probe", "msg-failing-1", "worker")
