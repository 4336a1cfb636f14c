"""Date-times as the web tier shows them: RFC 3339 in UTC with a "Z" in JSON (`iso`), and in the
viewer's own time zone on pages (`local`, the pages' one `localtime` filter), always with the
zone named, so a reader never has to guess. A user without a stored zone (and anyone logged out)
sees UTC. The zone is an IANA name, validated against the names zoneinfo knows.

The operations console is the exception: it shows UTC (`utc`, its `utctime` filter), the
clock of the logs, CloudWatch and SQS it is read beside, and says so beside each time."""
from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from core.notifying import local_time
from core.parsing import InputError, aware_datetime

ZONE_MAX = 64  # users.time_zone's width; every IANA name is far shorter
LOCAL_FORMAT = "%Y-%m-%d %H:%M"


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def utc(value: datetime | None, precision: str = "seconds") -> str:
    """`value` as a UTC wall time to the "minutes", "seconds" or "milliseconds"
    ("2026-12-01 23:59:07"), a naive value taken as UTC; "" for none."""
    if value is None:
        return ""
    moment = value.astimezone(UTC) if value.tzinfo else value
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec=precision)


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA names this system's tz database knows (read once: it lists files on disk)."""
    # Not the tz database's legacy and alternative trees: no browser reports those.
    return frozenset(name for name in available_timezones() | {"UTC"}
                     if not name.startswith(("SystemV/", "posix/", "right/"))
                     and name not in ("Factory", "localtime", "posixrules"))


def valid_zone(raw: object, field: str = "time_zone") -> str:
    """An IANA time zone name ("Europe/Madrid"), exactly as the tz database spells it."""
    if not isinstance(raw, str) or not raw or len(raw) > ZONE_MAX or raw not in zone_names():
        raise InputError(field, f"{field} must be an IANA time zone name, like Europe/Madrid or America/Bogota")
    return raw


def zone_of(name: str | None) -> tzinfo:
    """The zone a stored name stands for; UTC when none is stored (or the tz database lost it)."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_label(name: str | None) -> str:
    return name if name and zone_of(name) is not UTC else "UTC"


def local(value: datetime | None, zone_name: str | None, fmt: str = LOCAL_FORMAT) -> str:
    """`value` in the zone, with the zone named: "2026-12-01 23:59 Europe/Madrid (CET)". The
    emails' formatter (core.notifying.local_time), so a page and an email say the same."""
    return local_time(value, zone_name, fmt)


def input_value(value: datetime | None, zone_name: str | None) -> str:
    """`value` as an <input type="datetime-local"> shows it in the zone ("2026-12-01T23:59")."""
    return value.astimezone(zone_of(zone_name)).strftime("%Y-%m-%dT%H:%M") if value else ""


def from_input(raw: str, field: str, zone_name: str | None) -> datetime:
    """An <input type="datetime-local"> value read in the user's zone, as aware UTC. A wall time
    that a clock change skips or repeats is read as zoneinfo does (fold=0: the earlier one)."""
    naive = aware_datetime(raw, field, local_utc=True).replace(tzinfo=None)
    return naive.replace(tzinfo=zone_of(zone_name)).astimezone(UTC)
