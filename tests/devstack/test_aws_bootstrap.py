"""devstack.aws_bootstrap against a real moto server: the resources exist, have EB's shape, and reruns are safe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from devstack.aws_bootstrap import DLQ_RETENTION_SECONDS, bootstrap, parse_args
from infra.ebconfig import load_sqsd_settings
from tests.devstack.conftest import REGION
from tests.support.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"queue_name": f"q-{suffix}", "dlq_name": f"q-{suffix}-dead", "bucket": f"b-{suffix}"}


def redrive_policy(sqs: Any, queue_url: str) -> dict[str, Any]:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    return json.loads(attrs["RedrivePolicy"])


def test_creates_queue_with_redrive_dlq_bucket_and_sender(moto_endpoint: str, sqs: Any) -> None:
    n = names()
    result = bootstrap(moto_endpoint, REGION, n["queue_name"], n["dlq_name"], n["bucket"],
                       "Aula <no-reply@aula.test>", 4)

    assert result["queue_url"].endswith("/" + n["queue_name"])
    assert result["dead_letter_queue_url"].endswith("/" + n["dlq_name"])
    assert (result["bucket"], result["ses_sender"]) == (n["bucket"], "no-reply@aula.test")
    dlq_attrs = sqs.get_queue_attributes(QueueUrl=result["dead_letter_queue_url"], AttributeNames=["All"])["Attributes"]
    assert dlq_attrs["MessageRetentionPeriod"] == str(DLQ_RETENTION_SECONDS) == "1209600"
    assert redrive_policy(sqs, result["queue_url"]) == {"deadLetterTargetArn": dlq_attrs["QueueArn"],
                                                        "maxReceiveCount": 4}
    boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION).head_bucket(Bucket=n["bucket"])
    ses = boto3.client("ses", endpoint_url=moto_endpoint, region_name=REGION)
    verification = ses.get_identity_verification_attributes(Identities=["no-reply@aula.test"])
    assert verification["VerificationAttributes"]["no-reply@aula.test"]["VerificationStatus"] == "Success"
    # What the app will do: moto refuses to send from an unverified address.
    ses.send_email(Source="Aula <no-reply@aula.test>", Destination={"ToAddresses": ["student@example.com"]},
                   Message={"Subject": {"Data": "hi"}, "Body": {"Text": {"Data": "hello"}}})


def test_rerun_is_safe_and_converges(moto_endpoint: str, sqs: Any) -> None:
    n = names()
    first = bootstrap(moto_endpoint, REGION, n["queue_name"], n["dlq_name"], n["bucket"], "a@aula.test", 10)
    second = bootstrap(moto_endpoint, REGION, n["queue_name"], n["dlq_name"], n["bucket"], "a@aula.test", 3,
                       visibility_timeout=45)

    assert first == second
    assert redrive_policy(sqs, second["queue_url"])["maxReceiveCount"] == 3
    attrs = sqs.get_queue_attributes(QueueUrl=second["queue_url"], AttributeNames=["VisibilityTimeout"])
    assert attrs["Attributes"]["VisibilityTimeout"] == "45"


def test_gives_up_on_a_silent_endpoint_within_the_bound(moto_endpoint: str) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not answer within 0.5s"):
        bootstrap(f"http://127.0.0.1:{free_port()}", REGION, "q", "q-dlq", "b", None, 10, wait_timeout=0.5)
    assert time.monotonic() - started < 5


def test_refuses_to_run_without_an_endpoint() -> None:
    with pytest.raises(ValueError, match="without an endpoint"):
        bootstrap("", REGION, "q", "q-dlq", "b", None, 10)


def test_command_line_uses_app_env_and_ebextensions_max_retries(moto_endpoint: str, sqs: Any) -> None:
    n = names()
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, "AWS_REGION": REGION,
           "SQS_QUEUE_URL": f"{moto_endpoint}/123456789012/{n['queue_name']}", "S3_BUCKET": n["bucket"],
           "MAIL_SENDER": "Aula <cli@aula.test>"}
    env.pop("SQS_DEAD_LETTER_QUEUE_URL", None)
    runs = [subprocess.run([sys.executable, "-m", "devstack.aws_bootstrap"], check=False, cwd=REPO_ROOT,
                           env=env, capture_output=True, text=True, timeout=30) for _ in range(2)]

    assert [run.returncode for run in runs] == [0, 0], runs[-1].stderr
    first, second = (json.loads(run.stdout) for run in runs)
    assert first == second
    assert first["queue_url"].endswith("/" + n["queue_name"])
    assert first["dead_letter_queue_url"].endswith(f"/{n['queue_name']}-dlq")
    assert (first["bucket"], first["ses_sender"]) == (n["bucket"], "cli@aula.test")
    expected = load_sqsd_settings(REPO_ROOT)
    assert redrive_policy(sqs, first["queue_url"])["maxReceiveCount"] == expected.max_retries


def test_the_bucket_lets_the_web_origin_post_uploads_as_in_production(moto_endpoint: str, monkeypatch) -> None:
    n = names()
    bootstrap(moto_endpoint, REGION, n["queue_name"], n["dlq_name"], n["bucket"], None, 4,
              web_origin="http://127.0.0.1:8123")
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    (rule,) = s3.get_bucket_cors(Bucket=n["bucket"])["CORSRules"]
    assert (rule["AllowedMethods"], rule["AllowedOrigins"]) == (["POST"], ["http://127.0.0.1:8123"])
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:8000/some/path")
    assert parse_args([]).web_origin == "http://127.0.0.1:8000"
