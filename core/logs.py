"""JSON log lines on stdout, with the context of the request or job that wrote them; the same
records shipped to CloudWatch Logs when CLOUDWATCH_LOG_GROUP is set.

Context travels in contextvars, so every line written while serving a request or running a
job carries its ids without each call site passing them.

CloudWatch shipping (watchtower) starts in each gunicorn worker after the fork
(`gunicorn.conf.py` `post_worker_init`): its sender thread and boto3 client must belong to the
process that uses them. `stop_shipping()` flushes it when the worker exits.
"""
from __future__ import annotations

import contextvars
import logging
import string
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pythonjsonlogger.json import JsonFormatter

if TYPE_CHECKING:
    from core.settings import Settings

# The AWS SDK's own loggers. Kept at INFO or above, and never shipped to CloudWatch: sending
# their records would make the SDK log again while it sends, without end.
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")
METRICS_LOGGER = "aula.metrics"
# Placeholders a CLOUDWATCH_LOG_STREAM may use: `role` is ours, the rest are watchtower's.
STREAM_PLACEHOLDERS = frozenset({"role", "machine_name", "program_name", "process_id", "thread_name", "strftime"})
SEND_INTERVAL_SECONDS = 10

# Never changed in place: each change sets a new dict (so the default, read-only, is shared safely).
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def start_context(**fields: Any) -> None:
    """Begin a fresh context for a new unit of work (a request) on a reused thread."""
    _context.set({k: v for k, v in fields.items() if v is not None})


def bind(**fields: Any) -> None:
    """Add fields to the current context until the enclosing `log_context` ends."""
    # A new dict, never an in-place update: outside any context `get()` is the ContextVar's
    # shared default, and mutating it would stamp these fields on every thread's records.
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


class ContextFilter(logging.Filter):
    def __init__(self, role: str):
        super().__init__()
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = self.role
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class _NotFromTheSdk(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(SDK_LOGGERS)


def json_formatter() -> JsonFormatter:
    """The one line format: the app's stdout, gunicorn's own lines (gunicorn.conf.py) and CloudWatch."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


def configure_logging(role: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter(role))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_aula", False)]:
        root.removeHandler(old)
    handler._aula = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # botocore at DEBUG logs its own requests, which recurses once logs are shipped to AWS.
    for noisy in SDK_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
    # Metric lines are data, not chatter: LOG_LEVEL=WARNING must not switch the job metrics off.
    logging.getLogger(METRICS_LOGGER).setLevel(logging.INFO)


def stream_name_for(role: str, template: str) -> str:
    """The watchtower stream template for `role`; refuses placeholders watchtower cannot fill,
    which would otherwise fail on every record instead of once at start-up."""
    fields = {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}
    unknown = sorted(fields - STREAM_PLACEHOLDERS)
    if unknown:
        raise ValueError(f"CLOUDWATCH_LOG_STREAM uses unknown placeholders {unknown}; "
                         f"allowed: {sorted(STREAM_PLACEHOLDERS)}")
    return template.replace("{role}", role)


def ship_to_cloudwatch(role: str, log_group: str, stream_template: str, client: Any,
                       *, send_interval: float = SEND_INTERVAL_SECONDS) -> logging.Handler:
    """Send every record the stdout handler gets to CloudWatch Logs too, as the same JSON line.

    The log group is not created here (the operations stack creates it with its retention), so
    the instance role needs only logs:CreateLogStream and logs:PutLogEvents on it.
    """
    import watchtower

    handler = watchtower.CloudWatchLogHandler(
        log_group_name=log_group,
        log_stream_name=stream_name_for(role, stream_template),
        boto3_client=client,
        create_log_group=False,
        send_interval=send_interval,
    )
    handler.setFormatter(json_formatter())
    handler.addFilter(ContextFilter(role))
    handler.addFilter(_NotFromTheSdk())
    handler._aula_cloudwatch = True  # type: ignore[attr-defined]
    stop_shipping()  # at most one shipper per process
    logging.getLogger().addHandler(handler)
    return handler


def ship_from_settings(settings: Settings) -> logging.Handler | None:
    """Start shipping if the settings name a log group; None (stdout only) otherwise."""
    if not settings.cloudwatch_log_group:
        return None
    from core.aws import AwsClients

    return ship_to_cloudwatch(settings.role, settings.cloudwatch_log_group, settings.cloudwatch_log_stream,
                              AwsClients(settings).client("logs"))


def stop_shipping() -> None:
    """Deliver what is queued for CloudWatch and stop shipping; safe to call more than once.

    The handler leaves the root logger before it closes, so nothing logged afterwards (gunicorn
    logging its own exit) reaches a closed handler.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_aula_cloudwatch", False)]:
        root.removeHandler(handler)
        handler.close()
