"""core.notifying: the one decision per recipient (email now, digest, or the inbox only), the
kinds' defaults, and when a user's local morning is."""
from __future__ import annotations

from datetime import UTC, date, datetime

from core.models import NotificationPreference
from core.notification_kinds import KINDS, TEMPLATE_KINDS
from core.notifying import channels, digest_kinds, local_morning, route, user_channels
from tests import factories


def test_every_kind_has_a_valid_default_and_templates_name_known_kinds():
    assert {"activity_published", "activity_changed", "grade_posted", "reminder"} <= set(KINDS)
    assert set(TEMPLATE_KINDS.values()) <= set(KINDS) | {"digest"}


def test_route_splits_recipients_by_their_choice_or_the_default(db):
    school = factories.institution(db)
    a, b, c, d = (factories.user(db, school) for _ in range(4))
    db.add_all([NotificationPreference(user_id=b.id, kind="grade_posted", channel="digest"),
                NotificationPreference(user_id=c.id, kind="grade_posted", channel="off"),
                NotificationPreference(user_id=d.id, kind="reminder", channel="off")])  # another kind
    db.commit()
    routed = route(db, [a.id, b.id, c.id, d.id], "grade_posted")
    assert (routed.email, routed.digest, routed.off) == ([a.id, d.id], [b.id], [c.id])
    assert channels(db, [d.id], "reminder") == {d.id: "off"}
    assert user_channels(db, b.id)["grade_posted"] == "digest" and user_channels(db, b.id)["reminder"] == "email"
    assert digest_kinds(db, b.id) == ["grade_posted"] and digest_kinds(db, a.id) == []


def test_the_local_morning_follows_the_users_zone_and_utc_when_unknown():
    at = datetime(2026, 3, 10, 10, 30, tzinfo=UTC)
    assert local_morning(None, at) == date(2026, 3, 10)  # 10:30 UTC
    assert local_morning("Not/A_Zone", at) == date(2026, 3, 10)
    assert local_morning("America/Sao_Paulo", at) == date(2026, 3, 10)  # 07:30 there
    assert local_morning("America/Los_Angeles", at) is None  # 03:30 there
    assert local_morning("Asia/Tokyo", at) is None  # 19:30 there
    assert local_morning("Pacific/Kiritimati", datetime(2026, 3, 9, 18, 0, tzinfo=UTC)) == date(2026, 3, 10)
