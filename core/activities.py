"""Keys both tiers agree on for an activity's notifications. The worker writes rows under them
(worker/handlers/activities.py); the web tier finds those rows (web/common/activities.py, where
publishing an activity lives)."""
from __future__ import annotations


def batch_key(activity_id: int) -> str:
    """The activity's one batch of emails (batches.key, unique)."""
    return f"activity:{activity_id}:emails"


def summary_key(activity_id: int) -> str:
    """The teacher's summary notification (notifications.dedupe_key)."""
    return f"activity-summary:{activity_id}"


def student_notification_key(activity_id: int) -> str:
    """Each student's in-app notification (notifications.dedupe_key, unique per user)."""
    return f"activity:{activity_id}"


def email_effect_key(activity_id: int, student_id: int) -> str:
    """One email to one student about one activity (effects.key): sent at most once."""
    return f"email:activity:{activity_id}:student:{student_id}"


def changed_notification_key(activity_id: int) -> str:
    """Each student's one "this activity changed" notification: the first edit after publishing
    tells them; later edits do not (the activity page always shows the current version)."""
    return f"activity-changed:{activity_id}"


def unpublished_notification_key(activity_id: int) -> str:
    """Each student's one "this activity was taken back" notification."""
    return f"activity-unpublished:{activity_id}"


def activity_path(activity_id: int) -> str:
    """The activity's page, the `link` of every notification about it (core.links.absolute makes
    the URL an email carries)."""
    return f"/activities/{activity_id}"


def notice_key(activity_id: int, notice: str) -> str:
    """The in-app key of a "changed" or "unpublished" notice."""
    return (changed_notification_key if notice == "changed" else unpublished_notification_key)(activity_id)


def notice_batch_key(activity_id: int, notice: str) -> str:
    """The one batch of emails of a notice (batches.key, unique): a second job finds it."""
    return f"activity:{activity_id}:{notice}-emails"


def notice_email_key(activity_id: int, notice: str, student_id: int) -> str:
    """One student's one email of a notice (effects.key)."""
    return f"email:activity-{notice}:{activity_id}:student:{student_id}"
