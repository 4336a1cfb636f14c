"""`email_chunk` jobs: one job, many recipients, each email sent at most once by its own effect
key, whatever ends a run (a duplicate delivery, throttling, a cancellation, a dead worker);
refusals recorded per recipient; progress and the lease move as the chunk advances."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from core.activities import email_effect_key
from core.db import utcnow
from core.jobs import lifecycle
from core.jobs.outbox import envelope_for, flush
from core.jobs.types import EMAIL_CHUNK, EMAIL_CHUNK_MAX
from core.models import Batch, Effect, Job, Notification
from core.parsing import InputError
from tests import factories
from tests.sqsd import deliver, pump
from tests.support.ses import SentMail
from web.common.activities import publish_activity
from worker import email_chunk, outages
from worker.effects import is_intent, record_effect
from worker.email_chunk import RECORD_EVERY


@pytest.fixture
def sent(aws) -> SentMail:
    return SentMail()


@pytest.fixture(autouse=True)
def _checkpoints_by_count_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkpoints every RECORD_EVERY sends, never because a slow machine let RECORD_INTERVAL pass,
    so the tests know where each one falls."""
    monkeypatch.setattr(email_chunk, "RECORD_INTERVAL", 3600.0)


def _lesson(db, students: int):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, pupils = factories.school_class(db, teacher, students=students)
    activity, _fanout = publish_activity(db, group, teacher, "Lista 1", "Exercícios", utcnow() + timedelta(days=7))
    db.commit()
    return teacher, pupils, activity


def _chunk(activity, students, **changes) -> dict:
    recipients = [{"to_user_id": s.id, "effect_key": email_effect_key(activity.id, s.id)} for s in students]
    return {"template": "activity_published", "context": {"activity_id": activity.id}, "recipients": recipients,
            **changes}


def _job(db, job_id) -> Job:
    db.expire_all()
    return db.get(Job, job_id)


def _effects(db, activity) -> set[str]:
    db.expire_all()
    return set(db.scalars(sa.select(Effect.key).where(Effect.key.like(f"email:activity:{activity.id}:%"))))


def _intents(db, activity) -> set[str]:
    """The keys noted before their send whose outcome is not recorded."""
    db.expire_all()
    return {e.key for e in db.scalars(sa.select(Effect).where(Effect.key.like(f"email:activity:{activity.id}:%")))
            if is_intent(e.detail)}


class _Ses:
    """The mailer's SES client with a script: `before(n, to)` runs before the n-th send (1-based),
    `on_wire(n)` when botocore is about to write its request (after the handler noted its
    intent), and `after(n, to)` once SES accepted it, and each may raise; `refused` addresses
    answer MessageRejected, as a suppressed address does. Its botocore events are the real
    client's, so the handler notes its intents as it does in production."""

    def __init__(self, real, refused: frozenset[str] = frozenset(), before=None, after=None):
        self.real, self.refused, self.before, self.after, self.calls = real, refused, before, after, 0
        self.meta, self.on_wire = real.meta, None

    def wire(self, **_kwargs):
        if self.on_wire is not None:
            self.on_wire(self.calls)

    def send_email(self, **kwargs):
        self.calls += 1
        to = kwargs["Destination"]["ToAddresses"][0]
        if self.before is not None:
            self.before(self.calls, to)
        if to in self.refused:
            raise ClientError({"Error": {"Code": "MessageRejected", "Message": "Address is on the suppression list"}},
                              "SendEmail")
        answer = self.real.send_email(**kwargs)
        if self.after is not None:
            self.after(self.calls, to)
        return answer


@pytest.fixture
def ses(worker_app):
    mailer = worker_app.extensions["aula"].mailer
    real = mailer.ses
    scripted = _Ses(real)
    mailer.ses = scripted
    real.meta.events.register("before-send.sesv2.SendEmail", scripted.wire, unique_id="test-on-wire")
    try:
        yield scripted
    finally:
        real.meta.events.unregister("before-send.sesv2.SendEmail", unique_id="test-on-wire")
        mailer.ses = real


class _Killed(BaseException):
    """What SIGKILL does to a run, as far as the database can tell: it stops, mid-chunk, and
    nothing it has not committed happens (not an Exception, so no handler or runner catches it)."""


def test_a_chunk_emails_each_recipient_once_and_records_each_email(worker_client, db, make_job, sent):
    teacher, students, activity = _lesson(db, 12)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    body = envelope_for(job).to_json()

    assert deliver(worker_client, body).get_json()["outcome"] == "succeeded"
    assert deliver(worker_client, body, receive_count=2).get_json()["outcome"] == "not_claimed"

    assert sent.count() == 12 and sent.recipients() == {s.email: 1 for s in students}
    row = _job(db, job.id)
    assert (row.state, row.attempts, row.progress) == ("succeeded", 1, 100)
    assert row.result == {"recipients": 12, "sent": 12, "already_sent": 0, "failed": 0,
                          "batch_counts": {"succeeded": 12, "failed": 0}}
    effects = db.scalars(sa.select(Effect).where(Effect.key.like(f"email:activity:{activity.id}:%"))).all()
    assert {e.key for e in effects} == {email_effect_key(activity.id, s.id) for s in students}
    assert {e.job_id for e in effects} == {job.id}
    assert {e.detail["message_id"] for e in effects} == {m.id for m in sent.messages}


def test_emails_already_recorded_are_not_sent_again_by_another_chunk(worker_client, db, make_job, sent):
    teacher, students, activity = _lesson(db, 6)
    for student in students[:2]:
        record_effect(db, email_effect_key(activity.id, student.id), None, {"message_id": "earlier"})
    db.commit()
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)

    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert sent.recipients() == {s.email: 1 for s in students[2:]}
    result = _job(db, job.id).result
    assert (result["sent"], result["already_sent"], result["batch_counts"]) == (4, 2, {"succeeded": 6, "failed": 0})


def test_refused_and_vanished_recipients_are_listed_without_stopping_the_others(worker_client, db, make_job,
                                                                                sent, ses):
    teacher, students, activity = _lesson(db, 5)
    ses.refused = frozenset({students[1].email})
    gone = {"to_user_id": 999_999, "effect_key": email_effect_key(activity.id, 999_999)}
    payload = _chunk(activity, students)
    payload["recipients"].insert(2, gone)
    job = make_job("email_chunk", payload, owner_id=teacher.id)

    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"

    assert sent.recipients() == {s.email: 1 for s in students if s is not students[1]}
    row = _job(db, job.id)
    assert row.state == "succeeded"
    assert (row.result["sent"], row.result["failed"], row.result["batch_counts"]) == (
        4, 2, {"succeeded": 4, "failed": 2})
    refused, vanished = row.result["failures"]
    assert refused["to_user_id"] == students[1].id and refused["error"] == (
        f"SES refused the email to {students[1].email} (MessageRejected): Address is on the suppression list")
    assert vanished == {"to_user_id": 999_999, "effect_key": gone["effect_key"],
                        "error": f"user 999999 no longer exists; email {gone['effect_key']} not sent"}
    assert email_effect_key(activity.id, students[1].id) not in _effects(db, activity)


def test_a_chunk_whose_every_email_is_refused_fails_with_the_reason(worker_app, worker_client, db, make_job, sent):
    teacher, students, activity = _lesson(db, 3)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    mailer = worker_app.extensions["aula"].mailer
    verified, mailer.sender = mailer.sender, "someone-else@unverified.test"  # moto, like SES: MessageRejected
    try:
        assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "failed"
    finally:
        mailer.sender = verified

    row = _job(db, job.id)
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.error.startswith(f"all 3 emails refused; first: SES refused the email to {students[0].email} "
                                "(MessageRejected): ")
    assert sent.count() == 0 and not _effects(db, activity)


def test_throttling_mid_chunk_keeps_what_was_sent_and_the_retry_sends_only_the_rest(worker_client, db, make_job,
                                                                                   sent, ses):
    teacher, students, activity = _lesson(db, 20)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    throttled_at = RECORD_EVERY + 4  # past one checkpoint, with sends not yet recorded

    def throttle(n, _to):
        if n == throttled_at:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Maximum sending rate exceeded."}},
                              "SendEmail")

    ses.before = throttle
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "retry_scheduled"
    row = _job(db, job.id)
    assert row.state == "retrying" and "Throttling" in row.error
    # Everything SES accepted before the error is recorded, the sends since the last checkpoint too.
    assert sent.count() == throttled_at - 1 == len(_effects(db, activity))
    assert row.result["batch_counts"] == {"succeeded": throttled_at - 1, "failed": 0}

    ses.before = None
    db.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=utcnow()))
    db.commit()
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert sent.count() == 20 and sent.recipients() == {s.email: 1 for s in students}
    row = _job(db, job.id)
    assert (row.attempts, row.result["already_sent"], row.result["sent"]) == (2, throttled_at - 1, 20 - throttled_at + 1)


def _take_over(db, job) -> None:
    """sqsd redelivers once the dead run's lease has expired: the next attempt takes it over."""
    db.execute(sa.update(Job).where(Job.id == job.id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()


def test_a_worker_killed_right_after_ses_accepted_an_email_sends_nothing_twice(worker_client, db, make_job,
                                                                               sent, ses):
    teacher, students, activity = _lesson(db, 30)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    killed_at = RECORD_EVERY + 5  # past a checkpoint, its answer and those before it since not checkpointed

    def die(n, _to):
        if n == killed_at:
            raise _Killed()

    ses.after = die
    with pytest.raises(_Killed):
        deliver(worker_client, envelope_for(job).to_json())
    row = _job(db, job.id)
    assert row.state == "running" and row.progress == RECORD_EVERY * 100 // 30
    # Every email SES accepted has its row: the earlier ones with their answer (committed with
    # the next one's intent), the last one as the intent noted before its send.
    last = email_effect_key(activity.id, students[killed_at - 1].id)
    assert sent.count() == killed_at == len(_effects(db, activity)) and _intents(db, activity) == {last}

    ses.after = None
    _take_over(db, job)
    assert deliver(worker_client, envelope_for(job).to_json(), receive_count=2).get_json()["outcome"] == "succeeded"

    assert sent.count() == 30 and sent.recipients() == {s.email: 1 for s in students}
    assert len(_effects(db, activity)) == 30 and not _intents(db, activity)
    row = _job(db, job.id)
    assert (row.state, row.attempts, row.result["already_sent"], row.result["sent"]) == (
        "succeeded", 2, killed_at, 30 - killed_at)
    assert row.result["unconfirmed"] == [students[killed_at - 1].id]
    assert row.result["batch_counts"] == {"succeeded": 30, "failed": 0}
    detail = db.get(Effect, last).detail
    assert (detail["unconfirmed"], detail["answer_lost"], detail["message_id"]) == (True, True, None)


def test_a_worker_killed_between_an_intent_and_its_send_reports_that_email_unconfirmed(worker_client, db, make_job,
                                                                                       sent, ses):
    """The one window left: the intent committed, the request not yet at SES. Nothing tells the
    retry that it never went out, so it is reported, not sent (maybe a second time)."""
    teacher, students, activity = _lesson(db, 4)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)

    def die(n):
        if n == 2:
            raise _Killed()

    ses.on_wire = die
    with pytest.raises(_Killed):
        deliver(worker_client, envelope_for(job).to_json())
    ses.on_wire = None
    _take_over(db, job)
    assert deliver(worker_client, envelope_for(job).to_json(), receive_count=2).get_json()["outcome"] == "succeeded"

    assert sent.recipients() == {s.email: 1 for s in students if s is not students[1]}
    result = _job(db, job.id).result
    assert (result["unconfirmed"], result["already_sent"], result["sent"]) == ([students[1].id], 2, 2)


def test_a_refusal_not_yet_recorded_when_the_worker_died_is_reported_unconfirmed(worker_app, worker_client, db,
                                                                                 make_job, sent, ses, monkeypatch):
    teacher, students, activity = _lesson(db, 4)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    mailer = worker_app.extensions["aula"].mailer
    verified = mailer.sender

    def unverify_after_the_first(n, _to):  # SES (moto) refuses the second, after its intent
        if n == 1:
            mailer.sender = "someone-else@unverified.test"

    ses.after = unverify_after_the_first
    real, calls = email_chunk.note_intent, {"n": 0}

    def die_at_the_third(*args, **kwargs):  # the refusal's row is deleted with the next intent
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Killed()
        return real(*args, **kwargs)

    monkeypatch.setattr(email_chunk, "note_intent", die_at_the_third)
    try:
        with pytest.raises(_Killed):
            deliver(worker_client, envelope_for(job).to_json())
    finally:
        mailer.sender = verified
    ses.after = None
    monkeypatch.setattr(email_chunk, "note_intent", real)
    _take_over(db, job)
    assert deliver(worker_client, envelope_for(job).to_json(), receive_count=2).get_json()["outcome"] == "succeeded"

    assert sent.recipients() == {s.email: 1 for s in students if s is not students[1]}
    result = _job(db, job.id).result
    assert (result["unconfirmed"], result["failed"], result["already_sent"]) == ([students[1].id], 0, 2)


def test_an_intent_of_another_job_is_reported_unconfirmed_and_left_to_it(worker_client, db, make_job, sent):
    teacher, students, activity = _lesson(db, 3)
    other = make_job("email_chunk", _chunk(activity, students[:1]), owner_id=teacher.id)
    key = email_effect_key(activity.id, students[0].id)
    record_effect(db, key, other.id, {"to_user_id": students[0].id, "template": "activity_published",
                                      "state": "sending"})
    db.commit()
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)

    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert sent.recipients() == {s.email: 1 for s in students[1:]}
    result = _job(db, job.id).result
    assert (result["unconfirmed"], result["already_sent"], result["sent"]) == ([students[0].id], 1, 2)
    db.expire_all()
    assert is_intent(db.get(Effect, key).detail) and db.get(Effect, key).job_id == other.id


def test_an_email_taken_by_another_job_after_the_check_is_not_sent(worker_app, worker_client, db, make_job, sent,
                                                                   ses):
    """The intent's insert, not the first look, decides who sends: a second job with the same keys
    (enqueued twice) that notes an email first keeps this one from sending it."""
    teacher, students, activity = _lesson(db, 3)
    other = make_job("email_chunk", _chunk(activity, students[2:]), owner_id=teacher.id)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)

    def other_job_notes_the_third(n, _to):
        if n == 1:
            with worker_app.extensions["aula"].db.sessions() as side:
                record_effect(side, email_effect_key(activity.id, students[2].id), other.id,
                              {"message_id": "by-the-other-job"})
                side.commit()

    ses.before = other_job_notes_the_third
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert sent.recipients() == {s.email: 1 for s in students[:2]}
    result = _job(db, job.id).result
    assert (result["sent"], result["already_sent"]) == (2, 1)


def test_progress_and_the_lease_move_as_a_chunk_advances(worker_app, worker_client, db, make_job, sent, ses):
    teacher, students, activity = _lesson(db, 25)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    seen: list[tuple[int, object]] = []
    engine = worker_app.extensions["aula"].db.engine

    def look(_n, _to):  # what a poller sees before each send: committed state only
        with engine.connect() as conn:
            seen.append(tuple(conn.execute(sa.select(Job.progress, Job.lease_expires_at)
                                           .where(Job.id == job.id)).one()))

    ses.before = look
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"

    progress = [p for p, _lease in seen]
    assert progress == sorted(progress) and progress[0] == 0
    assert {p for p in progress if 0 < p < 100} == {RECORD_EVERY * 100 // 25, 2 * RECORD_EVERY * 100 // 25}
    leases = [lease for _p, lease in seen]
    assert leases[RECORD_EVERY] > leases[0], "each checkpoint renews the lease"
    assert _job(db, job.id).progress == 100


def test_a_slow_ses_makes_a_checkpoint_by_time_alone(worker_app, worker_client, db, make_job, sent, ses,
                                                     monkeypatch):
    monkeypatch.setattr(email_chunk, "RECORD_INTERVAL", 0.0)  # every send is "too long" after the last
    teacher, students, activity = _lesson(db, 4)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    progress_before_each_send: list[int] = []
    intents_before_each_send: list[int] = []
    engine = worker_app.extensions["aula"].db.engine

    def look(_n):  # committed state only, as botocore is about to write the request
        with engine.connect() as conn:
            progress_before_each_send.append(conn.execute(sa.select(Job.progress).where(Job.id == job.id)).scalar_one())
            details = conn.execute(sa.select(Effect.detail).where(Effect.job_id == job.id)).scalars()
            intents_before_each_send.append(sum(is_intent(detail) for detail in details))

    ses.on_wire = look
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert progress_before_each_send == [0, 25, 50, 75] and len(_effects(db, activity)) == 4
    # Each send's intent is committed before it, and only that one is without its outcome.
    assert intents_before_each_send == [1, 1, 1, 1] and not _intents(db, activity)


def test_cancelling_a_running_chunk_stops_it_at_its_next_checkpoint_and_the_batch_counts_what_went_out(
    web_app, worker_app, worker_client, db, sqs, aws, sent, ses
):
    teacher, _students, activity = _lesson(db, 25)
    flush(db, web_app.extensions["aula"].queue)
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=1) == [200]  # the fan-out
    [chunk] = db.scalars(sa.select(Job).where(Job.type == "email_chunk")).all()

    def cancel_midway(n, _to):
        if n == 3:  # the owner cancels while the chunk runs
            with worker_app.extensions["aula"].db.sessions() as side:
                assert lifecycle.request_cancel(side, chunk.id, utcnow()) == "cancelling"
                side.commit()

    ses.before = cancel_midway
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=1) == [200]
    row = _job(db, chunk.id)
    assert (row.state, row.result["batch_counts"]) == ("cancelled", {"succeeded": RECORD_EVERY, "failed": 0})
    assert sent.count() == RECORD_EVERY == len(_effects(db, activity))

    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)  # the summary
    batch = db.scalars(sa.select(Batch).where(Batch.key == f"activity:{activity.id}:emails")).one()
    assert (batch.total, batch.succeeded, batch.failed) == (25, RECORD_EVERY, 25 - RECORD_EVERY)
    [summary] = db.scalars(sa.select(Notification).where(Notification.user_id == teacher.id)).all()
    assert summary.title == f"Activity 'Lista 1': emailed {RECORD_EVERY} of 25 students, {25 - RECORD_EVERY} failed"


@pytest.mark.parametrize("change, field", [
    ({"recipients": []}, "recipients"),
    ({"recipients": [{"to_user_id": 1, "effect_key": "k"}, {"to_user_id": 2, "effect_key": "k"}]}, "payload"),
    ({"recipients": [{"to_user_id": n, "effect_key": f"k{n}"} for n in range(1, EMAIL_CHUNK_MAX + 2)]},
     "recipients"),
    ({"recipients": [{"to_user_id": 1}]}, "recipients.0.effect_key"),
])
def test_a_chunk_payload_is_checked(change, field):
    with pytest.raises(InputError) as refused:
        EMAIL_CHUNK.parse({"template": "activity_published", "context": {"activity_id": 1}, **change})
    assert refused.value.field == field


def test_a_chunk_for_a_deleted_activity_fails_at_once_and_sends_nothing(worker_client, db, make_job, sent):
    teacher, students, activity = _lesson(db, 2)
    job = make_job("email_chunk", _chunk(activity, students, context={"activity_id": 999_999}),
                   owner_id=teacher.id)
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "failed"
    row = _job(db, job.id)
    assert (row.state, row.error) == ("failed", "activity 999999 no longer exists") and sent.count() == 0


def test_a_send_whose_answer_never_came_is_recorded_unconfirmed_and_never_sent_again(worker_client, db, make_job,
                                                                                    sent, ses):
    """make chaos R1: SES frozen with the request in flight. It may have arrived, so it is not sent
    again; a send that never connected is retried as before."""
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    teacher, students, activity = _lesson(db, 12)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)

    def script(n, _to):
        if n == 3:
            raise ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")
        if n == 6:
            raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")

    ses.before = script
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "retry_scheduled"
    # 1, 2, 4, 5 went out; 3 is recorded unconfirmed; 6 never connected and is left for the retry.
    assert sent.count() == 4 and len(_effects(db, activity)) == 5
    ses.before = None
    db.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=utcnow()))
    db.commit()
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert len(_effects(db, activity)) == 12 and set(sent.recipients().values()) == {1}
    assert students[2].email not in sent.recipients() and sent.count() == 11
    unconfirmed = db.scalar(sa.select(Effect.detail).where(Effect.key == email_effect_key(activity.id, students[2].id)))
    assert unconfirmed["unconfirmed"] is True and unconfirmed["message_id"] is None


def test_a_database_outage_at_a_checkpoint_is_ridden_out_and_nothing_is_sent_twice(worker_client, db, make_job,
                                                                                    sent, monkeypatch):
    """make chaos R5: the database goes away while a chunk sends. The run knows what SES accepted
    and records it once the database answers again, so the retry sends only the rest."""
    monkeypatch.setattr(outages, "RETRY_DELAYS", (0.01,))
    teacher, students, activity = _lesson(db, 25)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    real = lifecycle.checkpoint
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] in (2, 3, 4):  # the second checkpoint fails, and so do the next two tries
            raise sa.exc.OperationalError("UPDATE jobs", {}, Exception("server closed the connection unexpectedly"))
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "checkpoint", flaky)
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "retry_scheduled"
    assert sent.count() == 2 * RECORD_EVERY == len(_effects(db, activity))
    monkeypatch.setattr(lifecycle, "checkpoint", real)
    db.execute(sa.update(Job).where(Job.id == job.id).values(next_attempt_at=utcnow()))
    db.commit()
    assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert sent.count() == 25 and set(sent.recipients().values()) == {1}


def test_an_outage_longer_than_the_lease_allows_gives_up_recording(worker_client, db, make_job, sent, monkeypatch):
    """Past the lease (from the last commit) another run may own the job: stop trying then."""
    monkeypatch.setattr(outages, "RETRY_DELAYS", (0.01,))
    monkeypatch.setattr(outages, "LEASE_MARGIN_SECONDS", EMAIL_CHUNK.lease.total_seconds())
    teacher, students, activity = _lesson(db, 25)
    job = make_job("email_chunk", _chunk(activity, students), owner_id=teacher.id)
    real = lifecycle.checkpoint
    calls = {"n": 0}

    def down(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise sa.exc.OperationalError("UPDATE jobs", {}, Exception("the database system is shutting down"))
        return real(*args, **kwargs)

    monkeypatch.setattr(lifecycle, "checkpoint", down)
    deliver(worker_client, envelope_for(job).to_json())
    # One try, then no more: the margin leaves no time under the lease. Each send's outcome was
    # committed with the next one's intent, so only the last is left without one: its retry
    # reports it unconfirmed rather than sending it again.
    assert calls["n"] == 3 and len(_effects(db, activity)) == 2 * RECORD_EVERY
    assert _intents(db, activity) == {email_effect_key(activity.id, students[2 * RECORD_EVERY - 1].id)}
