"""Reading untrusted input (query strings, forms, JSON bodies, sqsd headers) into values the
database can hold. Every rule lives here once, so a bad value is a 4xx naming the field at
fault, never a 500 deeper down:

- integers are ASCII digits only: `str.isdigit()` also accepts "²" or "٣", which `int()` then
  refuses or reads as another number;
- ids are 1 to 2^31-1, the range of the INTEGER primary keys (PostgreSQL raises DataError for
  anything larger);
- text may not contain NUL, which PostgreSQL refuses to store or compare;
- date-times carry a time zone and must stay representable once converted to UTC (year 1 at
  +14:00 or year 9999 at -14:00 overflow);
- JSON nesting is bounded by the parser (too deep is a RecursionError, reported here as bad input).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

MAX_ID = 2**31 - 1  # INTEGER primary keys on PostgreSQL (and what SQLite ids never exceed here)
NUL = "\x00"
_ASCII_DIGITS = re.compile(r"[0-9]+")
# An RFC 3339 date-time with a time zone, a real calendar date, years 0002 to 9998 (so that any
# offset stays within Python's years 1 to 9999 in UTC). The OpenAPI document states the same
# pattern (components.schemas.DueAt; tests/web/test_openapi.py keeps the two equal).
DATE_TIME_PATTERN = (
    r"^(?!0000|0001|9999)(?:[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
    r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_DATE_TIME = re.compile(DATE_TIME_PATTERN)
YEARS = (2, 9998)


class InputError(ValueError):
    """Bad input; `field` names the input at fault (the API answers 400 with it)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def ascii_int(raw: str | None) -> int | None:
    """The value of a string of ASCII digits (no sign, spaces or underscores), else None."""
    if raw is None or not _ASCII_DIGITS.fullmatch(raw):
        return None
    return int(raw)


def int_param(raw: str | None, field: str, low: int, high: int, default: int | None = None) -> int | None:
    """A whole number from a query string or form field; `default` when absent (an empty value
    is not a number: the OpenAPI document says integer)."""
    if raw is None:
        return default
    value = ascii_int(raw)
    if value is None or not low <= value <= high:
        raise InputError(field, f"{field} must be a whole number from {low} to {high}")
    return value


def json_int(value: Any, field: str, low: int, high: int) -> int:
    """An integer from a JSON body. A number with no fraction (3.0) counts, as JSON Schema
    says; booleans, strings and fractions do not."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**63:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(field, f"{field} must be an integer from {low} to {high}")
    return value


def json_id(value: Any, field: str) -> int:
    """A database id from a JSON body: an integer from 1 to 2^31-1."""
    try:
        return json_int(value, field, 1, MAX_ID)
    except InputError:
        raise InputError(field, f"{field} must be a positive integer (an id)") from None


def text(value: Any, field: str, *, required: bool = False, max_length: int | None = None,
         strip: bool = True) -> str:
    """A text field from a JSON body or form: a string, without NUL, at most `max_length`
    characters as sent; surrounding whitespace is stripped when `strip`."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InputError(field, f"{field} must be text")
    if NUL in value:
        raise InputError(field, f"{field} must not contain NUL characters")
    if max_length is not None and len(value) > max_length:  # as sent, as the document counts it
        raise InputError(field, f"{field} must be at most {max_length:,} characters")
    if strip:
        value = value.strip()
    if required and not value:
        raise InputError(field, f"{field} is required")
    return value


def known_fields(body: dict[str, Any], known: tuple[str, ...]) -> None:
    """A JSON body holds only the properties its operation lists: a typo ("clas_id") is an
    error naming it, not a field silently ignored."""
    unknown = sorted(key for key in body if key not in known)
    if unknown:
        raise InputError(unknown[0], f"unknown field {unknown[0]!r} (known: {', '.join(known)})")


def aware_datetime(raw: Any, field: str, *, local_utc: bool = False) -> datetime:
    """An RFC 3339 date-time with a time zone (DATE_TIME_PATTERN), as a timezone-aware UTC
    datetime. With `local_utc` it is the value of an <input type="datetime-local"> instead: no
    time zone, read as UTC."""
    wrong = InputError(field, f"{field} must be a date-time with a time zone, years {YEARS[0]} to {YEARS[1]} "
                              f"(RFC 3339, e.g. 2026-12-01T23:59:00Z)")
    if not isinstance(raw, str) or NUL in raw or not raw.isascii():
        raise wrong
    if not local_utc and not _DATE_TIME.match(raw):
        raise wrong
    try:
        # RFC 3339 allows a lower-case "t" and "z"; Python reads them upper-case only.
        value = datetime.fromisoformat(raw.strip().upper())
    except ValueError:
        raise wrong from None
    if local_utc:
        if value.tzinfo is not None:
            raise InputError(field, f"{field} must be a date and time without a time zone (it is read as UTC)")
        value = value.replace(tzinfo=UTC)
    if value.tzinfo is None or not YEARS[0] <= value.year <= YEARS[1]:
        raise wrong
    return value.astimezone(UTC)  # cannot overflow: within a day of a year in range


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    stack = [(path, value)]
    while stack:  # iterative: a deeply nested body must not exhaust the interpreter's stack
        where, item = stack.pop()
        yield where, item
        if isinstance(item, dict):
            for key, child in item.items():
                inner = f"{where}.{key}" if where else str(key)
                yield inner.replace(NUL, "\\u0000"), key
                stack.append((inner, child))
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", child) for i, child in enumerate(item))


def find_nul(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) holding a NUL character in a JSON value
    ("title", "tags[2]", "" for the value itself), or None when there is none."""
    for where, item in _walk(value, path):
        if isinstance(item, str) and NUL in item:
            return where
    return None

