"""The SQS queue client. Only envelopes go on the queue."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from core.jobs.envelope import Envelope

if TYPE_CHECKING:
    from core.jobs.sender import Sender

MAX_DELAY_SECONDS = 900  # SQS's per-message limit; longer waits are re-published by the relay
BATCH_SIZE = 10  # SendMessageBatch's limit


class SqsQueue:
    def __init__(self, sqs_client: Any, queue_url: str):
        self.sqs = sqs_client
        self.queue_url = queue_url
        # Where `outbox.commit_and_send` hands committed messages: the web tier's background
        # sender (core.app.Services). None sends them before returning (the worker, the CLI).
        self.sender: Sender | None = None

    def send(self, envelope: Envelope, delay_seconds: int = 0) -> str:
        response = self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=envelope.to_json(),
            DelaySeconds=min(max(int(delay_seconds), 0), MAX_DELAY_SECONDS),
        )
        return response["MessageId"]

    def send_many(self, items: Iterable[tuple[Envelope, int]]) -> set[str]:
        """Send in batches of 10 (SQS's limit); return the job ids SQS accepted."""
        items = list(items)
        sent: set[str] = set()
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start : start + BATCH_SIZE]
            response = self.sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(index),
                        "MessageBody": envelope.to_json(),
                        "DelaySeconds": min(max(int(delay), 0), MAX_DELAY_SECONDS),
                    }
                    for index, (envelope, delay) in enumerate(chunk)
                ],
            )
            for ok in response.get("Successful", []):
                sent.add(str(chunk[int(ok["Id"])][0].job_id))
        return sent
