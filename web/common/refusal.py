"""A request refused with a message for people. Views raise it (or call `found`) instead of
building the answer, and the app answers it the way the caller reads it (web/hardening.py):
the API with JSON `{"error": message, ...}`, a page with the error page showing the message."""
from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class Refusal(Exception):
    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra  # more JSON fields for the API (e.g. the field at fault)


def found(value: T | None, message: str, **extra: Any) -> T:
    """`value`, or a 404 with `message` when there is none (or the caller may not see it)."""
    if value is None:
        raise Refusal(404, message, **extra)
    return value
