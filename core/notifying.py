"""Who gets an email for a notification, and the keys that make each one happen once.

`route()` is the one decision every fan-out makes per recipient (the activity fan-out, grades,
reminders): for a kind of notification (core/notification_kinds.py) each user's channel is
their notification_preferences row, or the kind's default without one. `email` means an email
now; `digest` means none now, the daily digest picks the notification up from the inbox
(worker/handlers/digests.py); `off` means the inbox only. The in-app notification is always
written, whatever the channel, so the caller writes it for every recipient and emails only
`route(...).email`.

The channel is read when the job runs, not when the work was asked for, so a choice made
between the two is honoured.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import NotificationPreference
from core.notification_kinds import KINDS

EMAIL, DIGEST, OFF = "email", "digest", "off"

#: The digest goes out from this local hour on, until MORNING_ENDS (a worker down all morning
#: skips that day's digest; the next one covers everything since the previous one).
MORNING_STARTS = time(7, 0)
MORNING_ENDS = time(12, 0)


@dataclass
class Route:
    """The recipients of one kind of notification, split by what they get beyond the inbox."""

    email: list[int] = field(default_factory=list)
    digest: list[int] = field(default_factory=list)
    off: list[int] = field(default_factory=list)


def channels(session: Session, user_ids: Iterable[int], kind: str) -> dict[int, str]:
    """Each user's channel for `kind` (one query for any number of users)."""
    declared = KINDS[kind]  # KeyError for a kind nobody can choose for: a programming error
    ids = list(dict.fromkeys(user_ids))
    chosen: dict[int, str] = {}
    for start in range(0, len(ids), 1000):  # bounded IN lists
        chosen.update(session.execute(
            sa.select(NotificationPreference.user_id, NotificationPreference.channel).where(
                NotificationPreference.kind == declared.name,
                NotificationPreference.user_id.in_(ids[start:start + 1000]))
        ).all())
    return {user_id: chosen.get(user_id, declared.default) for user_id in ids}


def route(session: Session, user_ids: Iterable[int], kind: str) -> Route:
    """THE decision, per recipient, between an email now, the digest, or nothing."""
    result = Route()
    for user_id, channel in channels(session, user_ids, kind).items():
        getattr(result, channel if channel in (EMAIL, DIGEST) else "off").append(user_id)
    return result


def user_channels(session: Session, user_id: int) -> dict[str, str]:
    """One user's channel for every kind (their preferences page and API)."""
    rows = dict(session.execute(
        sa.select(NotificationPreference.kind, NotificationPreference.channel).where(
            NotificationPreference.user_id == user_id)).all())
    return {name: rows.get(name, kind.default) for name, kind in KINDS.items()}


def digest_kinds(session: Session, user_id: int) -> list[str]:
    return [kind for kind, channel in user_channels(session, user_id).items() if channel == DIGEST]


# --- the daily digest -------------------------------------------------------------------------

def zone(name: str | None) -> ZoneInfo:
    """A user's time zone; UTC when unknown or not a zone this system knows."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def zone_label(name: str | None) -> str:
    """The zone a reader is told their times are in: their IANA name, or UTC."""
    return name if name and zone(name).key != "UTC" else "UTC"


def local_time(value: datetime | None, time_zone: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """`value` in the reader's zone with the zone named, as the pages show it (web.common.dates
    uses this too): "2026-12-01 23:59 Europe/Madrid (CET)"; UTC for a reader without a zone.
    Emails go through here, so a due date is never a bare UTC time."""
    if value is None:
        return ""
    moment = value.astimezone(zone(time_zone))
    label = zone_label(time_zone)
    abbreviation = moment.tzname()
    # The abbreviation tells summer from winter time; it adds nothing to "UTC" itself.
    suffix = label if not abbreviation or abbreviation == label else f"{label} ({abbreviation})"
    return f"{moment.strftime(fmt)} {suffix}"


def local_morning(time_zone: str | None, now: datetime) -> date | None:
    """The local date whose digest is due at `now` (aware, UTC) for a user in `time_zone`, or
    None outside their local morning."""
    local = now.astimezone(zone(time_zone))
    return local.date() if MORNING_STARTS <= local.time() < MORNING_ENDS else None


def digest_key(user_id: int, local_date: date) -> str:
    """The one digest email of a user for a local date (effects.key)."""
    return f"digest:user:{user_id}:{local_date.isoformat()}"


def digest_queued_key(user_id: int, local_date: date) -> str:
    """Recorded by the task when it puts the user in a batch, so a later run does not again."""
    return f"digest-queued:user:{user_id}:{local_date.isoformat()}"


#: A user's first digest (no earlier one recorded in DIGEST_LOOKBACK_DAYS) covers this much.
FIRST_DIGEST_WINDOW = timedelta(days=1)
DIGEST_LOOKBACK_DAYS = 7


def previous_digest_keys(user_id: int, local_date: date) -> list[str]:
    """The keys of the digests before `local_date` that the next one may continue from."""
    return [digest_key(user_id, local_date - timedelta(days=days)) for days in range(1, DIGEST_LOOKBACK_DAYS + 1)]


# --- reminders and grades ---------------------------------------------------------------------

def reminder_batch_key(activity_id: int) -> str:
    """The one batch of reminders of an activity (batches.key, unique)."""
    return f"reminder:activity:{activity_id}"


def reminder_notification_key(activity_id: int) -> str:
    """A student's reminder about an activity (notifications.dedupe_key, unique per user)."""
    return f"reminder:activity:{activity_id}"


def reminder_email_key(activity_id: int, student_id: int) -> str:
    return f"email:reminder:activity:{activity_id}:student:{student_id}"


def grade_change_key(activity_id: int, student_id: int, graded_at: datetime) -> str:
    """One change of a student's score (notifications.dedupe_key; the email's effect key with
    an `email:` prefix): the same change notified twice inserts nothing."""
    return f"grade:{activity_id}:{student_id}:{graded_at.strftime('%Y%m%dT%H%M%S%f')}"
