"""The outbox sender across processes: a forked child sends with a thread of its own; a process
killed before its sender sent leaves the job to the relay; a process that exits (or a gunicorn
worker that stops) first sends what its sender holds."""
from __future__ import annotations

import multiprocessing
import os
import runpy
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core.jobs.envelope import Envelope
from core.jobs.outbox import commit_and_send, new_job, relay
from core.jobs.queue import SqsQueue
from core.jobs.types import CANARY
from core.models import Job
from tests.conftest import REGION
from tests.core.jobs.gate import Gate, sqs_client

ROOT = Path(__file__).resolve().parents[3]
WAIT = 30  # seconds; only reached when something is wrong
# What a web process does with a request's unit of work, then: "hang" stays alive (until killed),
# "exit" ends at once, leaving its sender's atexit drain to send the message.
CHILD = """
import sys, time
from core.app import Services
from core.jobs.outbox import commit_and_send, new_job
from core.jobs.types import CANARY
from core.settings import Settings

services = Services(Settings.from_env())
with services.db.sessions() as session:
    job = new_job(session, CANARY, {"note": "from a child process"}, None)
    commit_and_send(session, services.queue)
print(job.id, flush=True)
if sys.argv[1] == "hang":
    time.sleep(600)
"""


def _published(db, job_id: uuid.UUID) -> bool:
    db.expire_all()
    return db.scalar(sa.select(Job.published_at).where(Job.id == job_id)) is not None


def _queued_job_ids(sqs, queue_url: str) -> list[uuid.UUID]:
    ids = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        ids += [Envelope.parse(message["Body"]).job_id for message in messages]
    return ids


def _child(mode: str, database_url: str, aws: dict[str, str], endpoint_url: str) -> subprocess.Popen:
    env = {**os.environ, "APP_ROLE": "web", "SECRET_KEY": "child-secret-key-0123456789abcdefghij",
           "DATABASE_URL": database_url, "AWS_REGION": REGION, "AWS_ENDPOINT_URL": endpoint_url,
           "SQS_QUEUE_URL": aws["SQS_QUEUE_URL"], "S3_BUCKET": aws["S3_BUCKET"], "LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, mode], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _job_id(child: subprocess.Popen) -> uuid.UUID:
    line = child.stdout.readline()
    if not line:
        child.wait(WAIT)
        pytest.fail(f"the child process printed no job id: {child.stderr.read()}")
    return uuid.UUID(line.strip())


def test_a_process_killed_before_its_sender_sent_leaves_the_job_to_the_relay(
        web_app, db, sqs, aws, database_url, hung_sqs):
    child = _child("hang", database_url, aws, hung_sqs.url)
    try:
        job_id = _job_id(child)  # committed and handed over
        assert hung_sqs.arrived.wait(WAIT)  # its sender is sending, and SQS does not answer
        child.send_signal(signal.SIGKILL)
        assert child.wait(WAIT) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()

    assert not _published(db, job_id)
    assert relay(db, web_app.extensions["aula"].queue) == 1
    assert _queued_job_ids(sqs, aws["SQS_QUEUE_URL"]) == [job_id]
    assert _published(db, job_id)


def test_a_process_that_exits_first_sends_what_its_sender_holds(db, sqs, aws, database_url, moto_server):
    # SQS answers after half a second: the child's interpreter would be long gone by then if
    # exiting did not wait for its sender.
    gate = Gate(upstream=moto_server, delay=0.5)
    try:
        child = _child("exit", database_url, aws, gate.url)
        try:
            job_id = _job_id(child)
            assert child.wait(WAIT) == 0, child.stderr.read()
        finally:
            child.stdout.close()
            child.stderr.close()
    finally:
        gate.close()
    assert _published(db, job_id)
    assert _queued_job_ids(sqs, aws["SQS_QUEUE_URL"]) == [job_id]


def test_a_stopping_gunicorn_worker_sends_what_its_sender_holds(web_app, db, sqs, aws, moto_server, monkeypatch):
    monkeypatch.setenv("APP_ROLE", "web")
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    services = web_app.extensions["aula"]
    gate = Gate(upstream=moto_server, delay=0.5)
    try:
        services.queue.sqs = sqs_client(gate.url)
        job = new_job(db, CANARY, {}, None)
        commit_and_send(db, services.queue)
        hooks["worker_exit"](SimpleNamespace(), SimpleNamespace(pid=os.getpid(), wsgi=web_app))
        assert _published(db, job.id)  # sent before the hook returned
    finally:
        gate.close()
    assert _queued_job_ids(sqs, aws["SQS_QUEUE_URL"]) == [job.id]


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_sends_with_its_own_thread_and_none_of_its_parents_messages(
        web_app, db, sqs, aws, hung_sqs):
    services = web_app.extensions["aula"]
    working = services.queue.sqs
    services.queue.sqs = sqs_client(hung_sqs.url)
    sender = services.queue.sender
    held, waiting = (new_job(db, CANARY, {"note": note}, None) for note in ("held", "waiting"))
    db.flush()
    db.commit()
    # The parent's thread is stuck sending `held`; `waiting` waits behind it.
    sender.hand_over([(Envelope(job_id=held.id, type=held.type, trace_id=held.trace_id), None)])
    assert hung_sqs.arrived.wait(WAIT)
    sender.hand_over([(Envelope(job_id=waiting.id, type=waiting.type, trace_id=waiting.trace_id), None)])
    child_job = new_job(db, CANARY, {"note": "the child's"}, None)
    db.commit()

    def in_child() -> None:
        services.db.engine.dispose(close=False)  # the parent's connections are the parent's
        services.queue.sqs = working  # this process's copy of the in-process moto
        envelope = Envelope(job_id=child_job.id, type=child_job.type, trace_id=child_job.trace_id)
        taken = sender.hand_over([(envelope, None)])
        sys.exit(0 if taken == 1 and sender.wait_idle(WAIT) and sender.running else 1)

    child = multiprocessing.get_context("fork").Process(target=in_child)
    child.start()
    child.join(WAIT)
    assert child.exitcode == 0
    assert _published(db, child_job.id)  # sent (to the child's moto) and marked by the child's thread
    assert not _published(db, held.id) and not _published(db, waiting.id)  # still the parent's to send

    services.queue.sqs = working
    hung_sqs.close()  # the parent's held send fails; it sends `waiting` to the working moto
    assert sender.wait_idle(WAIT)
    assert _published(db, waiting.id) and not _published(db, held.id)
    assert relay(db, SqsQueue(working, aws["SQS_QUEUE_URL"])) == 1  # `held`, left to the relay
    assert sorted(_queued_job_ids(sqs, aws["SQS_QUEUE_URL"])) == sorted([waiting.id, held.id])
