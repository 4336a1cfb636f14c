"""core.jobs.deadletters: a peek leaves every message in the queue, a redrive of chosen jobs moves
only theirs, a purge empties the queue (once a minute, as SQS allows) and fails the open jobs
whose messages went with it, and the monitor's depth readings."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from core.db import utcnow
from core.jobs import deadletters
from core.jobs.outbox import envelope_for, new_job
from core.models import Job
from core.models.ops import QueueSample


def _jobs(session, n: int) -> list[Job]:
    jobs = [new_job(session, "canary", {"note": f"j{k}"}, owner_id=None) for k in range(n)]
    session.commit()
    return jobs


def _dead_letter(sqs, aws, *jobs: Job, junk: int = 0) -> None:
    for job in jobs:
        sqs.send_message(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], MessageBody=envelope_for(job).to_json())
    for k in range(junk):
        sqs.send_message(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], MessageBody=f"junk {k}")


def _all_in(sqs, url: str) -> int:
    values = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(values["ApproximateNumberOfMessages"]) + int(values["ApproximateNumberOfMessagesNotVisible"])


def test_a_peek_is_bounded_and_leaves_every_message_visible(session, sqs, aws):
    dlq = aws["SQS_DEAD_LETTER_QUEUE_URL"]
    _dead_letter(sqs, aws, *_jobs(session, 3), junk=12)
    seen = deadletters.peek(sqs, dlq, 7)
    assert len(seen) == 7 and len({m["MessageId"] for m in seen}) == 7
    assert deadletters.depth(sqs, dlq) == deadletters.Depth(visible=15, in_flight=0, delayed=0)
    assert len(deadletters.peek(sqs, dlq, 100)) == 15, "visible again at once: a second look sees them all"


def test_a_redrive_of_chosen_jobs_moves_only_their_messages(session, sqs, aws):
    dlq, queue = aws["SQS_DEAD_LETTER_QUEUE_URL"], aws["SQS_QUEUE_URL"]
    jobs = _jobs(session, 4)
    _dead_letter(sqs, aws, *jobs, junk=3)
    deadletters.inspect(session, sqs, dlq, utcnow())
    chosen = {jobs[0].id, jobs[2].id}
    assert deadletters.redrive(session, sqs, dlq, queue, job_ids=chosen) == 2
    assert deadletters.depth(sqs, dlq).visible == 5, "the others are visible again at once"
    moved = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert {deadletters._job_id(m["Body"]) for m in moved} == chosen
    session.expire_all()
    marks = dict(session.execute(sa.select(Job.id, Job.dead_lettered_at)).all())
    assert {i for i, at in marks.items() if at is None} == chosen, "only the redriven lose their mark"


def test_a_redrive_of_chosen_jobs_finds_them_among_many_and_passes_over_the_rest(session, sqs, aws):
    dlq, queue = aws["SQS_DEAD_LETTER_QUEUE_URL"], aws["SQS_QUEUE_URL"]
    (job,) = _jobs(session, 1)
    _dead_letter(sqs, aws, junk=25)
    _dead_letter(sqs, aws, job)
    assert deadletters.redrive(session, sqs, dlq, queue, job_ids={job.id}) == 1
    assert deadletters.depth(sqs, dlq) == deadletters.Depth(visible=25, in_flight=0, delayed=0)
    assert deadletters.redrive(session, sqs, dlq, queue, job_ids={job.id}) == 0, "nothing left of it"


def test_a_redrive_finds_a_message_another_reader_was_holding_for_a_moment(session, sqs, aws):
    """A console's peek (or the monitor) hides what it reads until it makes it visible again: a
    targeted redrive that comes in between asks again instead of reporting nothing moved."""
    dlq, queue = aws["SQS_DEAD_LETTER_QUEUE_URL"], aws["SQS_QUEUE_URL"]
    (job,) = _jobs(session, 1)
    _dead_letter(sqs, aws, job)
    (held,) = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=60)["Messages"]
    back = threading.Timer(0.2, lambda: sqs.change_message_visibility(
        QueueUrl=dlq, ReceiptHandle=held["ReceiptHandle"], VisibilityTimeout=0))
    back.start()
    try:
        assert deadletters.redrive(session, sqs, dlq, queue, job_ids={job.id}) == 1
    finally:
        back.join()
    assert deadletters._job_id(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"]) == job.id


def test_purge_empties_the_queue_fails_open_marked_jobs_and_only_once_a_minute(session, sqs, aws):
    dlq = aws["SQS_DEAD_LETTER_QUEUE_URL"]
    waiting, done, unmarked = _jobs(session, 3)
    session.execute(sa.update(Job).where(Job.id == done.id).values(state="succeeded", finished_at=utcnow()))
    session.commit()
    _dead_letter(sqs, aws, waiting, done, junk=1)
    now = utcnow()
    deadletters.inspect(session, sqs, dlq, now)
    assert deadletters.purge(session, sqs, dlq, now) == 1
    assert _all_in(sqs, dlq) == 0
    session.expire_all()
    row = session.get(Job, waiting.id)
    assert (row.state, row.error) == ("failed", deadletters.PURGED_NOTE) and row.dead_lettered_at is not None
    assert session.get(Job, done.id).state == "succeeded", "a finished job stays as it was"
    assert session.get(Job, unmarked.id).state == "queued", "a job whose message was not there is untouched"
    with pytest.raises(ClientError) as raised:
        deadletters.purge(session, sqs, dlq, now)
    assert "PurgeQueueInProgress" in raised.value.response["Error"]["Code"]


def test_the_depth_readings_are_recorded_per_queue(session, sqs, aws):
    _dead_letter(sqs, aws, junk=2)
    now = utcnow()
    found = deadletters.record_depths(session, sqs, {"main": aws["SQS_QUEUE_URL"],
                                                     "dead": aws["SQS_DEAD_LETTER_QUEUE_URL"]}, now)
    assert found["dead"].visible == 2 and found["main"].visible == 0
    rows = {s.queue: (s.visible, s.in_flight, s.delayed) for s in session.scalars(sa.select(QueueSample))}
    assert rows == {"main": (0, 0, 0), "dead": (2, 0, 0)}
