"""A user's notification preferences (core/notification_kinds.py, core/notifying.py): read them
all, set some, and what an unsubscribe link turns off. The API, the preferences page and the
unsubscribe page all go through here."""
from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import utcnow
from core.models import NotificationPreference, User
from core.models.notifications import CHANNELS
from core.notification_kinds import KINDS
from core.notifying import DIGEST, OFF, user_channels
from core.parsing import InputError


def preferences_json(session: Session, user: User) -> dict[str, Any]:
    channels = user_channels(session, user.id)
    return {
        "channels": list(CHANNELS),
        "time_zone": user.time_zone or "UTC",
        "preferences": [
            {"kind": name, "label": kind.label, "channel": channels[name], "default": kind.default}
            for name, kind in KINDS.items()
        ],
    }


def parse_choices(raw: Any) -> dict[str, str]:
    """{kind: channel} from a request: every kind known, every channel one of CHANNELS."""
    if not isinstance(raw, dict) or not raw:
        raise InputError("preferences", "preferences must be an object of kind: channel, e.g. "
                                        '{"grade_posted": "digest"}')
    choices: dict[str, str] = {}
    for kind, channel in raw.items():
        if kind not in KINDS:
            raise InputError(f"preferences.{str(kind)[:40]}", f"unknown kind; kinds are {', '.join(KINDS)}")
        if channel not in CHANNELS:
            raise InputError(f"preferences.{kind}", f"channel must be one of {', '.join(CHANNELS)}")
        choices[kind] = channel
    return choices


def set_channels(session: Session, user_id: int, choices: dict[str, str]) -> int:
    """Store the choices (one row per kind, replaced); the caller commits. Returns how many
    kinds changed."""
    current = user_channels(session, user_id)
    changed = {kind: channel for kind, channel in choices.items() if current.get(kind) != channel}
    if not changed:
        return 0
    now = utcnow()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(NotificationPreference).values(
        [{"user_id": user_id, "kind": kind, "channel": channel, "updated_at": now} for kind, channel in changed.items()])
    # An upsert: two saves at once (two tabs, a click on two unsubscribe links) both succeed.
    session.execute(statement.on_conflict_do_update(
        index_elements=["user_id", "kind"],
        set_={"channel": statement.excluded.channel, "updated_at": statement.excluded.updated_at}))
    return len(changed)


def unsubscribe_kinds(session: Session, user_id: int, kind: str) -> list[str]:
    """The kinds an unsubscribe link of `kind` turns off: that kind, or for the digest's link
    every kind the user receives by digest."""
    if kind == DIGEST:
        return [name for name, channel in user_channels(session, user_id).items() if channel == DIGEST]
    return [kind] if kind in KINDS else []


def unsubscribe(session: Session, user_id: int, kind: str) -> list[str]:
    kinds = unsubscribe_kinds(session, user_id, kind)
    set_channels(session, user_id, {name: OFF for name in kinds})
    return kinds
