"""The daily digest (issue 13, item 6): at a user's local morning, one email with the
notifications of the kinds they chose "digest" for since their previous digest; exactly once per
local date however often the task runs; nothing for users whose morning it is not, or who have
nothing new."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import flush
from core.models import Effect, Job, Notification, NotificationPreference
from tests import factories
from tests.sqsd import fire_task, pump
from tests.support.ses import SentMail
from worker.handlers.digests import start_digests


@pytest.fixture
def sent(aws) -> SentMail:
    return SentMail()


def _zone_at(local_hour: int, now=None) -> str:
    """A fixed-offset zone where it is now `local_hour` o'clock (Etc/GMT signs are inverted)."""
    now = now or utcnow()
    offset = local_hour - now.hour
    if offset < -12:
        offset += 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def _note(db, user, kind, title, minutes_ago=5):
    note = Notification(user_id=user.id, kind=kind, title=title, body=f"About {title}", dedupe_key=f"t:{title}",
                        link="/activities/1", created_at=utcnow() - timedelta(minutes=minutes_ago))
    db.add(note)
    return note


def _digest_user(db, school, time_zone, kinds=("grade_posted",)):
    user = factories.user(db, school, "student")
    user.time_zone = time_zone
    db.add_all(NotificationPreference(user_id=user.id, kind=kind, channel="digest") for kind in kinds)
    return user


def _run(worker_client):
    response = fire_task(worker_client, "digests", "/sqsd/tasks/digests")
    assert response.status_code == 200, response.get_data(as_text=True)


def test_one_digest_at_the_local_morning_with_the_digest_kinds_only(db, worker_client, sqs, aws, sent):
    school = factories.institution(db)
    morning = _digest_user(db, school, _zone_at(9))
    night = _digest_user(db, school, _zone_at(21))  # not their morning: nothing yet
    emailer = factories.user(db, school, "student")  # no digest choice: never in a digest
    _note(db, morning, "grade_posted", "Graded: Lista 1")
    _note(db, morning, "reminder", "Due soon: Lista 2")  # reminders still come by email: not in the digest
    _note(db, morning, "grade_posted", "Graded: too old", minutes_ago=60 * 30)  # before the first window
    _note(db, night, "grade_posted", "Graded: night")
    _note(db, emailer, "grade_posted", "Graded: emailer")
    db.commit()

    _run(worker_client)
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    assert sent.recipients() == {morning.email: 1}
    [message] = sent.messages
    assert "Graded: Lista 1" in message.body and "Due soon" not in message.body and "too old" not in message.body
    assert "http://" in message.body and "/activities/1" in message.body and "/unsubscribe/" in message.body

    # Every later run that morning: nothing again.
    _run(worker_client)
    _run(worker_client)
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [] and sent.count() == 1
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.type == "digest_chunk")) == 1
    keys = set(db.scalars(sa.select(Effect.key).where(Effect.key.like(f"digest:user:{morning.id}:%"))))
    assert len(keys) == 1


def test_the_next_digest_starts_where_the_previous_one_ended(web_app, db, worker_client, sqs, aws, sent,
                                                              monkeypatch):
    school = factories.institution(db)
    user = _digest_user(db, school, _zone_at(9), kinds=("grade_posted", "activity_published"))
    _note(db, user, "grade_posted", "First")
    db.commit()
    _run(worker_client)
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    _note(db, user, "activity_published", "Second", minutes_ago=0)
    db.commit()

    # The next morning (the task's and the handler's clock a day on).
    tomorrow = utcnow() + timedelta(days=1)
    monkeypatch.setattr("worker.handlers.digests.utcnow", lambda: tomorrow)
    counts = start_digests(db, tomorrow)
    assert counts["queued"] == 1
    db.commit()
    flush(db, web_app.extensions["aula"].queue)  # sent now, not by the web tier's background sender
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    first, second = sent.messages
    assert "First" in first.body and "First" not in second.body and "Second" in second.body


def test_nothing_new_means_no_email_but_the_day_is_done(db, worker_client, sqs, aws, sent):
    school = factories.institution(db)
    user = _digest_user(db, school, _zone_at(9))
    _note(db, user, "grade_posted", "Graded")
    db.commit()
    _run(worker_client)
    # Switched the digest off before the chunk ran: nothing is sent.
    db.execute(sa.update(NotificationPreference).where(NotificationPreference.user_id == user.id)
               .values(channel="off"))
    db.commit()
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    assert sent.count() == 0
    db.expire_all()
    [detail] = db.scalars(sa.select(Effect.detail).where(Effect.key.like(f"digest:user:{user.id}:%"))).all()
    assert detail["empty"] is True
