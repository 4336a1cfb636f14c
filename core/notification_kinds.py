"""Every kind of notification a user can choose a channel for, declared once, with its default.

The inbox always has every notification; the channel says what happens beyond it: `email`
(an email now), `digest` (in the daily digest at the user's local morning) or `off` (the inbox
only). A user's choice is a row of notification_preferences; no row means the kind's default.
Kinds not listed here (the teacher's delivery summary) reach the inbox only.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.models.notifications import CHANNELS


@dataclass(frozen=True)
class NotificationKind:
    name: str
    label: str
    default: str  # one of CHANNELS

    def __post_init__(self) -> None:
        if self.default not in CHANNELS:
            raise ValueError(f"kind {self.name}: default channel {self.default!r} is not one of {CHANNELS}")


ACTIVITY_PUBLISHED = NotificationKind("activity_published", "A new activity in one of my classes", "email")
ACTIVITY_CHANGED = NotificationKind("activity_changed", "An activity was changed or taken back", "email")
GRADE_POSTED = NotificationKind("grade_posted", "My work was graded", "email")
REMINDER = NotificationKind("reminder", "Reminder 24 hours before a due date I have not submitted for", "email")

KINDS: dict[str, NotificationKind] = {
    kind.name: kind for kind in (ACTIVITY_PUBLISHED, ACTIVITY_CHANGED, GRADE_POSTED, REMINDER)
}

#: Which kind each email template is about, so every email of a kind carries its unsubscribe link
#: (core/mail.py). A template not listed here (an invitation) is not a notification: no link.
TEMPLATE_KINDS: dict[str, str] = {
    "activity_published": ACTIVITY_PUBLISHED.name,
    "activity_changed": ACTIVITY_CHANGED.name,
    "activity_unpublished": ACTIVITY_CHANGED.name,
    "grade_posted": GRADE_POSTED.name,
    "reminder": REMINDER.name,
    # The digest's link turns off every kind the user had set to "digest".
    "digest": "digest",
}
