"""What moto's in-process SES has sent since a test began (the `aws` fixture's mock lives for a
whole test module, so counts are taken relative to a starting point)."""
from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

REGION = "us-east-1"


class SentMail:
    def __init__(self) -> None:
        self._backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
        self._start = len(self._backend.sent_messages)
        self._quota_start = self._quota()

    @staticmethod
    def _quota() -> int:
        return int(boto3.client("ses", region_name=REGION).get_send_quota()["SentLast24Hours"])

    def count(self) -> int:
        """Emails SES accepted since the start, as SES itself reports them."""
        return self._quota() - self._quota_start

    @property
    def messages(self) -> list[Any]:
        return list(self._backend.sent_messages[self._start :])

    def recipients(self) -> Counter[str]:
        return Counter(to for m in self.messages for to in m.destinations["ToAddresses"])
