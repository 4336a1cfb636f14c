"""R4: poison messages. An unparseable body, a job type the worker does not know, a message that
kills its worker process every time: each is dead-lettered after MaxRetries, marked on its job,
counted and shown by the operations console, and redriven once the cause is gone."""
from __future__ import annotations

import re
import shlex
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import requests
import sqlalchemy as sa

from bench.processes import StartError, start_listening
from bench.stack import worker_gunicorn_workers
from chaos import count
from chaos.result import Result
from chaos.scenarios.common import Form, now, tagged_activities, teacher_classes
from chaos.stack import BOOT_TIMEOUT, ChaosStack
from core.jobs.deadletters import DEAD_LETTER_NOTE
from core.jobs.sqsd_paths import TASKS_PREFIX
from devstack.aws_bootstrap import ensure_dummy_credentials
from devstack.run import ROOT, commands
from devstack.sqsd_protocol import ATTR_PATH, ATTR_SCHEDULED_TIME, ATTR_TASK_NAME, SCHEDULED_BODY, iso_utc
from infra.ebconfig import load_sqsd_settings
from worker.faults import CRASH, UNKNOWN

OPERATOR = ("operator@ops.aula.local", "aula-operator")
FAULTY = "worker-faulty"
# The worker of the previous release, as it were: it does not know the fan-out of a published
# activity yet; and a report's message kills whichever worker process receives it.
UNKNOWN_TYPE, CRASH_TYPE = "activity_fanout", "report"
# sqsd's redelivery delay, for this scenario only: 30 s x MaxRetries would be 5 minutes a message.
ERROR_VISIBILITY_S = "1"
POISON_BODY = "{this is not a job envelope"
DEAD_LETTER_WAIT_S, FINISH_WAIT_S = 120, 120
# sqsd's line for one delivery: "<message id> (<receive count>) <url> <status or error> in <s>s: <outcome>"
_DELIVERY = re.compile(r" INFO (\S+) \((\d+)\) (\S+) (.+?) in [\d.]+s: (\w+)$", re.MULTILINE)


def _start_faulty_worker(stack: ChaosStack, **faults: str) -> int:
    """A second worker tier with `faults`, beside the stack's own (which keeps its port and its
    settings); returns its port."""
    def launch(port: int):
        command, env = commands(stack.env(worker=port))["worker"]
        return command, {**env, "GUNICORN_WORKERS": worker_gunicorn_workers(), **faults}, \
            f"http://127.0.0.1:{port}/healthz"

    return start_listening(stack.group, FAULTY, launch, ROOT, timeout=BOOT_TIMEOUT)[1]


def _start_sqsd(stack: ChaosStack, worker_port: int | None = None, **extra: str) -> None:
    """The sqsd daemon alone, posting to `worker_port` (default: the stack's worker). Not the
    stack's sqsd command: its requeue-open step would send every open job again, the
    dead-lettered ones too, behind the redrive's back."""
    ports = {} if worker_port is None else {"worker": worker_port}
    env = commands(stack.env(**ports))["sqsd"][1]
    log = stack.work_dir / "sqsd.log"
    offset = log.stat().st_size if log.exists() else 0
    stack.group.start("sqsd", f"exec {shlex.quote(sys.executable)} -m devstack.sqsd",
                      {**env, "SQSD_WAIT_TIME_SECONDS": "2", **extra}, ROOT)
    deadline = time.monotonic() + BOOT_TIMEOUT
    while "polling " not in log.read_text(errors="replace")[offset:]:
        if not stack.process("sqsd").alive() or time.monotonic() > deadline:
            raise StartError(f"sqsd did not start:\n{stack.process('sqsd').log_tail()}")
        time.sleep(0.2)


def _stop_faulty_worker(stack: ChaosStack) -> None:
    """SIGKILL: no sqsd posts to it any more, and its graceful stop costs seconds for nothing."""
    if FAULTY in stack.group.processes:
        stack.kill(FAULTY)


def _client(stack: ChaosStack) -> Any:
    ensure_dummy_credentials()
    return boto3.session.Session().client("sqs", endpoint_url=stack.urls["moto"], region_name="us-east-1")


def _kills(stack: ChaosStack) -> int:
    log = stack.work_dir / f"{FAULTY}.log"
    return log.read_text(errors="replace").count("killing worker process") if log.exists() else 0


def _depth(sqs: Any, url: str) -> int:
    values = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                     "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in values["Attributes"].values())


def _fire_task(sqs: Any, queue_url: str, name: str) -> None:
    """One tick of a periodic task, the message sqsd's cron leader sends (it would come within
    five minutes for the dead-letter monitor; the scenario does not wait for it)."""
    sqs.send_message(QueueUrl=queue_url, MessageBody=SCHEDULED_BODY, MessageAttributes={
        ATTR_PATH: {"DataType": "String", "StringValue": f"{TASKS_PREFIX}/{name}"},
        ATTR_TASK_NAME: {"DataType": "String", "StringValue": name},
        ATTR_SCHEDULED_TIME: {"DataType": "String", "StringValue": iso_utc(datetime.now(UTC).replace(microsecond=0))},
    })


def _deliveries(stack: ChaosStack, message_ids: set[str]) -> dict[str, list[str]]:
    """What sqsd's log says each delivery of these messages got (a status, or the error)."""
    found: dict[str, list[str]] = {m: [] for m in message_ids}
    for message_id, _count, _url, answer, _outcome in _DELIVERY.findall(
            (stack.work_dir / "sqsd.log").read_text(errors="replace")):
        if message_id in found:
            found[message_id].append(answer if answer.isdigit() else answer.split(":", 1)[0])
    return found


def _rows(stack: ChaosStack, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
    with stack.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, type, state, attempts, error, dead_lettered_at FROM jobs "
                                    "WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": [str(i) for i in ids]}).all()
    return {uuid.UUID(str(r.id)): r for r in rows}


def _wait(condition, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


class _Console:
    """The operations console's API as the demo operator sees it."""

    def __init__(self, stack: ChaosStack):
        self.web, self.headers = stack.web, stack.login(*OPERATOR)

    def get(self, path: str) -> dict[str, Any]:
        response = requests.get(self.web + path, headers=self.headers, timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(self.web + path, json=body, headers=self.headers, timeout=60)

    def dead_lettered(self) -> int:
        return self.get("/api/ops/overview")["jobs"]["counts"]["dead_lettered"]

    def groups(self) -> list[dict[str, Any]]:
        return self.get("/api/ops/dead-letters")["groups"]


def _poison(stack: ChaosStack, sqs: Any, queue_url: str, tag: str) -> tuple[str, dict[str, uuid.UUID]]:
    """(a) a body straight onto the queue; (b) an activity published, whose fan-out the worker
    does not know; (c) a report, whose message kills its worker process. Returns (a)'s message id
    and the jobs the web tier accepted for (b) and (c)."""
    unparseable = sqs.send_message(QueueUrl=queue_url, MessageBody=POISON_BODY)["MessageId"]
    headers, class_id = stack.login(), teacher_classes(stack)[0]
    jobs = {}
    for case, path, body in (
            ("b", f"/api/classes/{class_id}/activities", {"title": f"{tag} #0", "description": "chaos R4"}),
            ("c", "/api/reports", {"kind": "class_grades", "class_id": class_id, "format": "xlsx"})):
        response = requests.post(stack.web + path, json=body, headers=headers, timeout=30)
        if response.status_code not in (200, 202):
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")
        jobs[case] = uuid.UUID(response.headers["Location"].rsplit("/", 1)[1])
    return unparseable, jobs


def r4_poison_messages(stack: ChaosStack, form: Form) -> Result:
    """The same in both forms: three messages, each delivered MaxRetries times (at 1 s apart)."""
    result = Result("R4", "poison messages dead-lettered")
    began = time.monotonic()
    max_retries = load_sqsd_settings(ROOT).max_retries
    env = stack.env()
    queue_url, dlq_url = env["SQS_QUEUE_URL"], env["SQS_DEAD_LETTER_QUEUE_URL"]
    sqs, console, tag = _client(stack), _Console(stack), f"R4-{uuid.uuid4().hex[:6]}"
    dlq_before, marked_before, kills_before = _depth(sqs, dlq_url), console.dead_lettered(), _kills(stack)
    since = now()

    # The faults: a worker tier that crashes on reports and does not know fan-outs, fed by an
    # sqsd that retries fast; the stack's own worker stays up, unused, meanwhile.
    faulty_port = _start_faulty_worker(stack, **{CRASH: CRASH_TYPE, UNKNOWN: UNKNOWN_TYPE})
    stack.stop("sqsd")
    ordinary = False
    try:
        _start_sqsd(stack, faulty_port, SQSD_ERROR_VISIBILITY_TIMEOUT=ERROR_VISIBILITY_S)
        unparseable, jobs = _poison(stack, sqs, queue_url, tag)
        started = time.monotonic()
        arrived = _wait(lambda: _depth(sqs, dlq_url) >= dlq_before + 3, DEAD_LETTER_WAIT_S)
        to_dlq = time.monotonic() - started
        result.check(arrived, f"the three poison messages were not all dead-lettered within {DEAD_LETTER_WAIT_S} s "
                              f"(dead-letter queue {_depth(sqs, dlq_url)}, was {dlq_before})")
        result.notes.append(f"3 poison messages in the dead-letter queue {to_dlq:.1f} s after they were sent "
                            f"(MaxRetries {max_retries}, ErrorVisibilityTimeout {ERROR_VISIBILITY_S} s)")
        # Marked: the monitor's tick, then its marks on the jobs.
        _fire_task(sqs, queue_url, "dead-letter-monitor")
        ids = [jobs["b"], jobs["c"]]
        result.check(_wait(lambda: all(r.dead_lettered_at for r in _rows(stack, ids).values()), 30),
                     "the dead-letter monitor did not mark both jobs")
        _check_marked(result, _rows(stack, ids))
        # Counted and visible in the console.
        dead_lettered = console.dead_lettered()
        result.check(dead_lettered == marked_before + 2,
                     f"the console's overview counts {dead_lettered} dead-lettered jobs, not {marked_before + 2}")
        message_ids = _check_visible(result, console.groups(), unparseable, jobs)
        _check_deliveries(result, stack, message_ids, max_retries)
        result.notes.append(f"worker processes killed by (c): {_kills(stack) - kills_before}")

        # The cause gone: the faulty tier replaced by a worker without the fault (the stack's own),
        # sqsd with its ordinary settings.
        stack.stop("sqsd")
        _stop_faulty_worker(stack)
        _start_sqsd(stack)
        ordinary = True
        redriven = time.monotonic()
        response = console.post("/api/ops/dead-letters/redrive", {"job_ids": [str(i) for i in ids]})
        body = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else {}
        result.check(response.status_code == 200 and body.get("moved") == 2,
                     f"the console's redrive answered {response.status_code} {body}")
        settled = count.wait_settled(stack.engine, set(ids), FINISH_WAIT_S, since=since)
        result.recover_s = time.monotonic() - redriven
    finally:
        if not ordinary:
            stack.stop("sqsd")
            _stop_faulty_worker(stack)
            stack.start_sqsd()
    _count(result, stack, settled, set(ids), since, tag)
    _after(result, console, sqs, dlq_url, dlq_before, marked_before, unparseable)
    result.notes.append(f"the scenario took {time.monotonic() - began:.0f} s")
    return result


def _check_marked(result: Result, rows: dict[uuid.UUID, Any]) -> None:
    for row in rows.values():
        result.check(row.state == "queued" and row.attempts == 0 and row.error == DEAD_LETTER_NOTE,
                     f"dead-lettered {row.type} job is {row.state} after {row.attempts} attempts: {row.error}")


def _check_visible(result: Result, groups: list[dict[str, Any]], unparseable: str,
                   jobs: dict[str, uuid.UUID]) -> dict[str, str]:
    """The console's groups hold (a) as unparseable with its body and (b), (c) with their jobs;
    returns the message id of each case."""
    found: dict[str, str] = {}
    by_job = {str(j): case for case, j in jobs.items()}
    for group in groups:
        for message in group["messages"]:
            if message["message_id"] == unparseable:
                result.check(group["kind"] == "unparseable" and message.get("body") == POISON_BODY,
                             f"the console shows the unparseable body as {group['kind']}: {message.get('body')!r}")
                found["a"] = unparseable
            job = message.get("job") or {}
            if job.get("id") in by_job:
                case = by_job[job["id"]]
                result.check(group["kind"] == "job" and job["dead_lettered_at"] is not None,
                             f"the console shows job {job['id']} as {group['kind']}, marked {job['dead_lettered_at']}")
                found[case] = message["message_id"]
    result.check(sorted(found) == ["a", "b", "c"], f"the console's dead letters show only {sorted(found)} of a, b, c")
    result.notes.append("console: " + "; ".join(f"{g['kind']} {g['type'] or ''} x{g['count']}: {g['error'][:60]}"
                                                for g in groups))
    return found


def _check_deliveries(result: Result, stack: ChaosStack, message_ids: dict[str, str], max_retries: int) -> None:
    """Each message was POSTed exactly MaxRetries times, and got the answer its poison makes."""
    seen = _deliveries(stack, set(message_ids.values()))
    expected = {"a": "400", "b": "422", "c": "ConnectionError"}
    for case, message_id in sorted(message_ids.items()):
        answers = Counter(seen[message_id])
        result.notes.append(f"({case}) {message_id[:8]}: {sum(answers.values())} deliveries, {dict(answers)}")
        result.check(answers == {expected[case]: max_retries},
                     f"({case}) was delivered {dict(answers)}, not {max_retries} times {expected[case]}")


def _count(result: Result, stack: ChaosStack, settled: count.Settled, accepted: set[uuid.UUID],
           since: datetime, tag: str) -> None:
    result.accepted = len(accepted)
    result.finished = settled.finished
    result.lost = settled.lost(accepted)
    result.stuck = count.open_jobs_since(stack.engine, since)
    rows = _rows(stack, list(accepted))
    result.check(all(r.dead_lettered_at is None and r.error is None for r in rows.values()),
                 "a redriven job kept its dead-letter mark or note")
    activities = tagged_activities(stack, tag)
    mails = count.emails(stack.engine, stack.urls["moto"], stack.mailbox, activities)
    result.duplicated += mails.duplicated
    result.lost += mails.missing
    result.notes.append(f"redriven: jobs since start {dict(count.jobs_since(stack.engine, since))}; emails expected "
                        f"{mails.expected}, at SES {mails.at_ses}, effects {mails.effects}, summaries {mails.summaries}")


def _after(result: Result, console: _Console, sqs: Any, dlq_url: str, dlq_before: int, marked_before: int,
           unparseable: str) -> None:
    """(a) has no job to finish: a job redrive leaves it, the console still shows it, and a purge
    is what removes it (only when it is all the queue holds: a purge fails the jobs of the rest)."""
    left = _depth(sqs, dlq_url)
    result.check(left == dlq_before + 1, f"after the redrive the dead-letter queue holds {left}, not {dlq_before + 1}")
    dead_lettered = console.dead_lettered()
    result.check(dead_lettered == marked_before, f"the overview still counts {dead_lettered} dead-lettered jobs")
    if left != 1:
        result.notes.append(f"the dead-letter queue held {dlq_before} before: (a) left there, not purged")
        return
    response = console.post("/api/ops/dead-letters/purge", {"expected_count": 1})
    result.check(response.status_code == 200 and _depth(sqs, dlq_url) == 0,
                 f"purging the unparseable message answered {response.status_code}: {response.text[:200]}")
    result.notes.append(f"(a) {unparseable[:8]} purged through the console: {response.json()}")
