"""The admin commands operators run by hand: dead-letter inspection and redrive."""
from __future__ import annotations

from core.__main__ import main
from core.jobs.outbox import envelope_for, new_job


def test_dead_letters_and_redrive_from_the_command_line(database_url, aws, sqs, db, monkeypatch, capsys):
    for key, value in {**aws, "APP_ROLE": "worker", "SECRET_KEY": "cli-test-secret-key-0123456789abcdef", "DATABASE_URL": database_url}.items():
        monkeypatch.setenv(key, value)
    job = new_job(db, "report", {"kind": "class_roster", "class_id": 1}, owner_id=None)
    db.commit()
    sqs.send_message(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], MessageBody=envelope_for(job).to_json())

    assert main(["dead-letters"]) == 0
    assert "'marked': 1" in capsys.readouterr().out
    assert main(["redrive"]) == 0
    assert "moved 1 messages" in capsys.readouterr().out
    moved = sqs.receive_message(QueueUrl=aws["SQS_QUEUE_URL"])["Messages"]
    assert [m["Body"] for m in moved] == [envelope_for(job).to_json()]


def test_without_a_dead_letter_queue_it_says_so(database_url, aws, monkeypatch, capsys):
    for key, value in {**aws, "APP_ROLE": "worker", "SECRET_KEY": "cli-test-secret-key-0123456789abcdef", "DATABASE_URL": database_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SQS_DEAD_LETTER_QUEUE_URL")
    assert main(["redrive"]) == 2
    assert "SQS_DEAD_LETTER_QUEUE_URL is not set" in capsys.readouterr().err
