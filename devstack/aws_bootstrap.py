"""Create the local AWS resources the app expects, in moto server mode. Safe to run again.

The worker queue gets the same shape EB gives its generated queue: a dead-letter queue behind a
RedrivePolicy whose maxReceiveCount is MaxRetries from the worker saved configuration, so SQS
(not sqsd) moves a message that failed MaxRetries times. Also an S3 bucket and a verified SES sender.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.ebconfig import ConfigError, load_sqsd_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_QUEUE_NAME = "aula-jobs"
DEFAULT_BUCKET = "aula-local"
DEFAULT_SENDER = "no-reply@aula.local"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # the SQS maximum: time to look at what failed


def ensure_dummy_credentials() -> None:
    """moto accepts any credentials but botocore refuses to sign without some."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")


def queue_name_from_url(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def wait_for_endpoint(endpoint_url: str, region: str, timeout: float = 30.0) -> None:
    """Block until the endpoint answers an SQS call; TimeoutError after `timeout` seconds."""
    sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region,
                       config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            sqs.list_queues()
            return
        except (BotoCoreError, ClientError) as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"AWS endpoint {endpoint_url} did not answer within {timeout:g}s: {exc}") from exc
            time.sleep(0.2)


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    # Look up first and converge attributes after: CreateQueue on an existing queue with other
    # attribute values is an error in real SQS.
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def _ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **extra)


def _ensure_upload_cors(s3: Any, bucket: str, web_origin: str) -> None:
    """The bucket's CORS rule of infra/aula-ops.yaml: browsers on the web origin POST uploads."""
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "ID": "browser-uploads", "AllowedMethods": ["POST"], "AllowedOrigins": [web_origin],
        "AllowedHeaders": ["*"], "MaxAgeSeconds": 3000}]})


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def bootstrap(endpoint_url: str, region: str, queue_name: str, dlq_name: str, bucket: str,
              ses_sender: str | None, max_retries: int, *, wait_timeout: float = 30.0,
              visibility_timeout: int | None = None, web_origin: str = "") -> dict[str, str]:
    """Create (or bring up to date) queue, dead-letter queue, bucket (with the upload CORS rule
    for `web_origin`, as in production) and SES identity.

    Returns `queue_url`, `dead_letter_queue_url`, `bucket` and `ses_sender` (the bare address).
    """
    if not endpoint_url:
        raise ValueError("refusing to bootstrap without an endpoint URL: this is for moto, not real AWS")
    ensure_dummy_credentials()
    wait_for_endpoint(endpoint_url, region, wait_timeout)
    session = boto3.session.Session(region_name=region)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    # Path-style: bucket.127.0.0.1 is not a host name.
    s3 = session.client("s3", endpoint_url=endpoint_url, config=Config(s3={"addressing_style": "path"}))

    dlq_url = _ensure_queue(sqs, dlq_name, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_attributes = {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_retries})}
    if visibility_timeout is not None:
        queue_attributes["VisibilityTimeout"] = str(visibility_timeout)
    queue_url = _ensure_queue(sqs, queue_name, queue_attributes)

    _ensure_bucket(s3, bucket, region)
    if web_origin:
        _ensure_upload_cors(s3, bucket, web_origin)

    result = {"queue_url": queue_url, "dead_letter_queue_url": dlq_url, "bucket": bucket, "ses_sender": ""}
    if ses_sender:
        address = parseaddr(ses_sender)[1] or ses_sender
        # SES v1's verify call is idempotent (sesv2 create_email_identity fails on a second run), and
        # moto marks the identity verified at once; both APIs share one identity list.
        session.client("ses", endpoint_url=endpoint_url).verify_email_identity(EmailAddress=address)
        result["ses_sender"] = address
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ
    queue_url, dlq_url = env.get("SQS_QUEUE_URL"), env.get("SQS_DEAD_LETTER_QUEUE_URL")
    queue_name = queue_name_from_url(queue_url) if queue_url else DEFAULT_QUEUE_NAME
    parser = argparse.ArgumentParser(prog="python -m devstack.aws_bootstrap", description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint-url", default=env.get("AWS_ENDPOINT_URL"), help="env AWS_ENDPOINT_URL")
    parser.add_argument("--region", default=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
                        help="env AWS_REGION / AWS_DEFAULT_REGION")
    parser.add_argument("--queue-name", default=queue_name, help="default: the name in SQS_QUEUE_URL")
    parser.add_argument("--dlq-name", default=queue_name_from_url(dlq_url) if dlq_url else None,
                        help="default: the name in SQS_DEAD_LETTER_QUEUE_URL, else <queue-name>-dlq")
    parser.add_argument("--bucket", default=env.get("S3_BUCKET", DEFAULT_BUCKET), help="env S3_BUCKET")
    parser.add_argument("--ses-sender", default=env.get("MAIL_SENDER", DEFAULT_SENDER), help="env MAIL_SENDER")
    parser.add_argument("--web-origin", default=origin_of(env.get("PUBLIC_BASE_URL", "")),
                        help="the origin browsers upload from (default: PUBLIC_BASE_URL's)")
    parser.add_argument("--max-retries", type=int, default=None,
                        help="maxReceiveCount; default: MaxRetries from the worker saved configuration")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="project root holding .ebextensions/ and .elasticbeanstalk/")
    parser.add_argument("--wait-timeout", type=float, default=30.0, help="seconds to wait for the endpoint")
    parser.add_argument("--print-env", action="store_true", help="print KEY=value lines instead of JSON")
    args = parser.parse_args(argv)
    if not args.endpoint_url:
        parser.error("no endpoint: set AWS_ENDPOINT_URL or pass --endpoint-url")
    args.dlq_name = args.dlq_name or f"{args.queue_name}-dlq"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_sqsd_settings(args.root)
        result = bootstrap(args.endpoint_url, args.region, args.queue_name, args.dlq_name, args.bucket,
                           args.ses_sender, args.max_retries or settings.max_retries,
                           wait_timeout=args.wait_timeout, visibility_timeout=settings.visibility_timeout,
                           web_origin=args.web_origin)
    except (ConfigError, TimeoutError) as exc:
        print(f"aws_bootstrap: {exc}", file=sys.stderr)
        return 1
    if args.print_env:
        print(f"SQS_QUEUE_URL={result['queue_url']}\nSQS_DEAD_LETTER_QUEUE_URL={result['dead_letter_queue_url']}\n"
              f"S3_BUCKET={result['bucket']}\nMAIL_SENDER={args.ses_sender}")
    else:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
