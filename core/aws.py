"""boto3 clients built from settings, so the same code paths talk to AWS or to moto."""
from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from core.settings import Settings

# Services whose calls botocore must never repeat on its own: SES takes no idempotency key, so a
# SendEmail retried after a read timeout sends the email twice if the first one had arrived
# (make chaos, R1). The email job decides instead what a timed-out send means (worker/handlers/email.py).
SEND_ONCE = frozenset({"sesv2", "ses"})


@functools.cache
def _models() -> botocore.loaders.Loader:
    """The process's reader of botocore's service models and endpoint rules. It keeps what it
    has read, and what it reads never changes, so every session shares it: each new session
    would otherwise read and parse the same JSON again (~0.1 s a client; a test builds an app,
    and so its clients, for nearly every test)."""
    return botocore.loaders.create_loader()


class AwsClients:
    """Builds the clients of one app (core.app.Services) or one process-wide helper (the log
    shipper), on a boto3 session of their own (credentials, region, event hooks) over the
    process's shared models. Most are built at start-up; the console's Logs and CloudWatch
    readers on first use, in a request or the queue reader's thread: what they share is only
    read, except boto3's search-path append, which the next line undoes."""

    def __init__(self, settings: Settings):
        self.settings = settings
        core = botocore.session.Session()
        models = _models()
        core.register_component("data_loader", models)
        self.session = boto3.session.Session(botocore_session=core)
        # boto3 adds its own data folder to the loader's search path on every session; once will do.
        models.search_paths[:] = dict.fromkeys(models.search_paths)

    def client(self, service: str, *, fast: bool = False) -> Any:
        # fast=True bounds a call to a few seconds: the web tier must answer quickly even when SQS
        # is unreachable, and the outbox relay sends whatever the fast path could not.
        attempts = 2 if fast else 5
        if service in SEND_ONCE:
            attempts = 1
        config = Config(
            connect_timeout=2 if fast else 10,
            read_timeout=5 if fast else 60,
            retries={"mode": "standard", "max_attempts": attempts},
        )
        return self.session.client(
            service,
            region_name=self.settings.aws_region,
            endpoint_url=self.settings.aws_endpoint_url,
            config=config,
        )
