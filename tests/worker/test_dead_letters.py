"""Dead letters: the monitor marks and counts without losing anything; redrive sends back."""
from __future__ import annotations

import sqlalchemy as sa

from core.jobs.deadletters import DEAD_LETTER_NOTE, redrive
from core.jobs.outbox import envelope_for
from core.models import Job
from tests.sqsd import fire_task, pump


def _dlq_count(sqs, aws) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], AttributeNames=["All"])
    values = attributes["Attributes"]
    return int(values["ApproximateNumberOfMessages"]) + int(values["ApproximateNumberOfMessagesNotVisible"])


def test_the_monitor_marks_jobs_keeps_messages_and_redrive_runs_them(worker_app, worker_client, db, sqs, aws,
                                                                      probe, make_job):
    job = make_job()
    db.execute(sa.update(Job).values(published_at=sa.func.now()))
    db.commit()
    dlq = aws["SQS_DEAD_LETTER_QUEUE_URL"]
    sqs.send_message(QueueUrl=dlq, MessageBody=envelope_for(job).to_json())
    sqs.send_message(QueueUrl=dlq, MessageBody="not an envelope")
    task = {"name": "dead-letter-monitor", "url": "/sqsd/tasks/dead-letter-monitor"}

    first = fire_task(worker_client, task["name"], task["url"]).get_json()
    assert (first["dead_letters"], first["marked"], first["unmatched"]) == (2, 1, 1)
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.dead_lettered_at is not None and row.error == DEAD_LETTER_NOTE and row.state == "queued"
    assert _dlq_count(sqs, aws) == 2, "inspecting deletes nothing"
    # Visible again at once, so a second pass (or a redrive) sees them all.
    second = fire_task(worker_client, task["name"], task["url"]).get_json()
    assert (second["seen"], second["marked"]) == (2, 0)

    with worker_app.extensions["aula"].db.sessions() as session:
        moved = redrive(session, sqs, dlq, aws["SQS_QUEUE_URL"])
    assert moved == 2 and _dlq_count(sqs, aws) == 0
    statuses = pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    assert sorted(statuses) == [200, 400]  # the job ran; the junk is refused again
    db.expire_all()
    row = db.get(Job, job.id)
    assert row.state == "succeeded" and row.dead_lettered_at is None and row.error is None


def test_redrive_keeps_a_periodic_tasks_attributes(worker_app, db, sqs, aws):
    dlq = aws["SQS_DEAD_LETTER_QUEUE_URL"]
    attributes = {"beanstalk.sqsd.task_name": {"DataType": "String", "StringValue": "retention"},
                  "beanstalk.sqsd.path": {"DataType": "String", "StringValue": "/sqsd/tasks/retention"}}
    sqs.send_message(QueueUrl=dlq, MessageBody="elasticbeanstalk scheduled job", MessageAttributes=attributes)
    with worker_app.extensions["aula"].db.sessions() as session:
        assert redrive(session, sqs, dlq, aws["SQS_QUEUE_URL"]) == 1
    message = sqs.receive_message(QueueUrl=aws["SQS_QUEUE_URL"], MessageAttributeNames=["All"])["Messages"][0]
    assert message["MessageAttributes"]["beanstalk.sqsd.path"]["StringValue"] == "/sqsd/tasks/retention"
    assert message["Body"] == "elasticbeanstalk scheduled job"
