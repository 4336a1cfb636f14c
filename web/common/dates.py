"""The one date-time format the web tier shows in JSON: RFC 3339 in UTC with a "Z"."""
from __future__ import annotations

from datetime import datetime


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
