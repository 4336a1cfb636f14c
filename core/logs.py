"""JSON log lines on stdout, with the context of the request or job that wrote them.

Context travels in contextvars, so every line written while serving a request or running a
job carries its ids without each call site passing them.
"""
from __future__ import annotations

import contextvars
import logging
import sys
from contextlib import contextmanager
from typing import Any, Iterator

from pythonjsonlogger.json import JsonFormatter

CONTEXT_FIELDS = ("role", "request_id", "user_id", "job_id", "job_type", "sqsd_msgid", "receive_count")
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context", default={})


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


def configure_logging(role: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
        )
    )
    handler.addFilter(ContextFilter(role))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_aula", False)]:
        root.removeHandler(old)
    handler._aula = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # botocore at DEBUG logs its own requests, which recurses once logs are shipped to AWS.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLevelName(level)))
