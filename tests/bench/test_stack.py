"""bench/stack.empty_until_quiet: the queue is emptied for as long as something keeps sending to
it, and the messages it held are counted (about: by its depth before each purge)."""
from __future__ import annotations

import threading
import time

import boto3
from moto import mock_aws

from bench.stack import empty_until_quiet


def test_a_queue_is_emptied_until_its_sender_stops():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="bench-main")["QueueUrl"]
        for k in range(5):
            sqs.send_message(QueueUrl=url, MessageBody=f"left {k}")

        def sender():  # the web tier's background sender, still at it
            for k in range(8):
                sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"{k}.{n}"}
                                                              for n in range(3)])
                time.sleep(0.1)

        thread = threading.Thread(target=sender)
        started = time.monotonic()
        thread.start()
        try:
            held = empty_until_quiet(sqs, url, quiet_seconds=0.5, timeout=10, poll=0.05)
        finally:
            thread.join()
        assert time.monotonic() - started >= 0.7 + 0.5, "waited for the sender's last batch, then for the quiet"
        # Counted as the queue's depth before each purge: a batch sent in between goes uncounted.
        assert 5 <= held <= 5 + 8 * 3
        depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        assert depth["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_it_gives_up_at_its_timeout():
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="bench-main")["QueueUrl"]
        stop = threading.Event()

        def endless():
            while not stop.is_set():
                sqs.send_message(QueueUrl=url, MessageBody="more")
                time.sleep(0.02)

        thread = threading.Thread(target=endless)
        thread.start()
        try:
            started = time.monotonic()
            assert empty_until_quiet(sqs, url, quiet_seconds=5, timeout=0.5, poll=0.05) > 0
            assert time.monotonic() - started < 2
        finally:
            stop.set()
            thread.join()
