"""A digest's window ends a little before it runs (worker/handlers/digests.py SETTLE): a
notification dated just before a digest but seen only after it read (written by an instance
whose clock is behind, make chaos R7, or committed a moment later) is in the next digest, not
lost between the two."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import utcnow
from core.jobs.outbox import flush
from core.models import Notification, NotificationPreference
from tests import factories
from tests.sqsd import fire_task, pump
from tests.support.ses import SentMail
from worker.handlers import digests


def _note(db, user, title: str, created_at) -> None:
    db.add(Notification(user_id=user.id, kind="grade_posted", title=title, body=f"About {title}",
                        dedupe_key=f"t:{title}", link="/activities/1", created_at=created_at))
    db.commit()


def _morning_zone() -> str:
    """A fixed-offset zone where it is 9 o'clock now (Etc/GMT signs are inverted)."""
    offset = (9 - utcnow().hour + 12) % 24 - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def test_a_notification_dated_before_a_digest_and_seen_after_it_is_in_the_next_one(
        web_app, db, worker_client, sqs, aws, monkeypatch: pytest.MonkeyPatch):
    sent = SentMail()
    school = factories.institution(db)
    user = factories.user(db, school, "student")
    user.time_zone = _morning_zone()
    db.add(NotificationPreference(user_id=user.id, kind="grade_posted", channel="digest"))
    db.commit()
    _note(db, user, "First", utcnow() - timedelta(minutes=30))
    assert fire_task(worker_client, "digests", "/sqsd/tasks/digests").status_code == 200
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]

    # Written once that digest has run, by an instance whose clock is 5 s behind.
    _note(db, user, "Late", utcnow() - timedelta(seconds=5))

    # The next morning, on the task's and the handler's clock.
    tomorrow = utcnow() + timedelta(days=1)
    monkeypatch.setattr(digests, "utcnow", lambda: tomorrow)
    assert digests.start_digests(db, tomorrow)["queued"] == 1
    db.commit()
    flush(db, web_app.extensions["aula"].queue)
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    first, second = sent.messages
    assert "First" in first.body and "Late" not in first.body
    assert "Late" in second.body and "First" not in second.body
