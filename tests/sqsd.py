"""POST to the worker the way sqsd does, in-process (the real local sqsd is tested in
tests/devstack and end to end in tests/e2e)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.jobs.sqsd_paths import JOBS_PATH


def sqsd_headers(msgid: str | None = None, receive_count: int = 1) -> dict[str, str]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "User-Agent": "aws-sqsd/2.4",
        "X-Aws-Sqsd-Msgid": msgid or str(uuid.uuid4()),
        "X-Aws-Sqsd-Queue": "aula-jobs",
        "X-Aws-Sqsd-First-Received-At": now,
        "X-Aws-Sqsd-Sent-At": now,
        "X-Aws-Sqsd-Receive-Count": str(receive_count),
        "X-Aws-Sqsd-Sender-Id": "AIDEXAMPLE",
        "X-Aws-Sqsd-Path": "",
    }


def deliver(worker_client, body: str | bytes, msgid: str | None = None, receive_count: int = 1):
    return worker_client.post(
        JOBS_PATH, data=body, headers={**sqsd_headers(msgid, receive_count), "Content-Type": "application/json"}
    )


def fire_task(worker_client, name: str, url: str):
    headers = {
        **sqsd_headers(),
        "X-Aws-Sqsd-Taskname": name,
        "X-Aws-Sqsd-Scheduled-At": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "X-Aws-Sqsd-Path": url,
    }
    return worker_client.post(url, data=b"", headers=headers)


def pump(sqs, queue_url: str, worker_client, max_rounds: int = 10) -> list[int]:
    """Deliver every visible message once, deleting only on 200 like sqsd; return the statuses."""
    statuses: list[int] = []
    for _ in range(max_rounds):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            receive_count = int(message["Attributes"]["ApproximateReceiveCount"])
            response = deliver(worker_client, message["Body"], message["MessageId"], receive_count)
            statuses.append(response.status_code)
            if response.status_code == 200:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return statuses
