"""The scenarios (docs/reliability.md). Each takes the running stack and the form (short for
CI, long on demand), injects its fault into the real processes, and counts the outcome at the
source of truth (chaos/count.py). A scenario leaves the stack as it found it: every process up,
with its ordinary settings."""
from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
import sqlalchemy as sa

from chaos import count
from chaos.load import Call, Load, Outcome, Prober
from chaos.result import Result
from chaos.stack import ChaosStack

# A request that waited for SQS takes at least the fast client's 2 s connect or 5 s read timeout
# (core/aws.py); anything well under that did not wait, whatever else the busy machine did.
P99_UNAFFECTED_MS = 2000
RECOVERY_S = 120  # R1: every accepted job finished within 2 minutes of SQS coming back
RELAY_S = 60  # R6: the relay runs every minute (cron.yaml)


@dataclass(frozen=True)
class Form:
    long: bool

    def pick(self, short, long):
        return long if self.long else short


def _now() -> datetime:
    # created_at is written by the app's clock on this machine; a second of margin for rounding.
    return datetime.now(UTC) - timedelta(seconds=1)


def teacher_classes(stack: ChaosStack) -> list[int]:
    with stack.engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT c.id FROM classes c JOIN users u ON u.id = c.teacher_id WHERE u.email = 'teacher@aula.local' "
            "ORDER BY c.id")).scalars())


def mixed_calls(classes: list[int], tag: str, activity_every: int) -> Callable[[int], Call]:
    """Reports of every kind and format for each class, and every `activity_every`-th request
    an activity published (its emails go to the whole class)."""
    combos = [(kind, fmt) for kind in ("class_roster", "class_grades") for fmt in ("csv", "xlsx")]

    def call(n: int) -> Call:
        class_id = classes[n % len(classes)]
        if activity_every and n % activity_every == 0:
            return Call("POST", f"/api/classes/{class_id}/activities",
                        {"title": f"{tag} #{n}", "description": "chaos"})
        kind, fmt = combos[(n // len(classes)) % len(combos)]
        return Call("POST", "/api/reports", {"kind": kind, "class_id": class_id, "format": fmt})

    return call


def _activities(stack: ChaosStack, tag: str) -> list[count.Activity]:
    with stack.engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM activities WHERE title LIKE :t ORDER BY id"),
                           {"t": f"{tag} #%"}).scalars().all()
    return [count.activity(stack.engine, i) for i in ids]


def _count_load(stack: ChaosStack, result: Result, outcome: Outcome, since: datetime, tag: str,
                timeout: float) -> count.Settled:
    """The common tally: accepted jobs, their children, the emails of the activities published."""
    accepted = outcome.accepted()
    result.accepted = len(accepted)
    settled = count.wait_settled(stack.engine, accepted, timeout, since=since)
    result.finished = settled.finished
    result.lost = settled.lost(accepted)
    result.stuck = count.open_jobs_since(stack.engine, since)
    activities = _activities(stack, tag)
    mails = count.emails(stack.engine, stack.urls["moto"], stack.mailbox, activities)
    result.duplicated += mails.duplicated
    result.lost += mails.missing
    result.notes.append(f"requests {dict(outcome.statuses())}; jobs since start {dict(count.jobs_since(stack.engine, since))}")
    result.notes.append(f"{len(activities)} activities: emails expected {mails.expected}, at SES {mails.at_ses}, "
                        f"effects {mails.effects}, in mailbox {mails.in_mailbox}, summaries {mails.summaries}")
    result.check(mails.effects == mails.expected, f"{mails.effects} email effects recorded for {mails.expected} emails")
    result.check(mails.summaries == len(activities), f"{mails.summaries} teacher summaries for {len(activities)} activities")
    failed = outcome.failed()
    result.check(not failed, f"{len(failed)} requests failed (5xx or no answer), e.g. "
                             f"{[(s.path, s.status) for s in failed[:3]]}")
    return settled


def _ran_twice(stack: ChaosStack, since: datetime) -> int:
    """Jobs claimed more than once although nothing made them retry."""
    with stack.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM jobs WHERE created_at >= :s AND attempts > 1"),
                            {"s": since}).scalar_one()


# -- R3 -----------------------------------------------------------------------------------------
def r3_duplicate_deliveries(stack: ChaosStack, form: Form) -> Result:
    """Every message delivered three times at once (local sqsd SQSD_DUPLICATE_DELIVERIES=3)
    while reports are asked for and activities published: every effect exactly once."""
    result = Result("R3", "every message delivered 3x at once")
    tag = f"R3-{uuid.uuid4().hex[:6]}"
    stack.restart_sqsd(SQSD_DUPLICATE_DELIVERIES="3")
    try:
        since = _now()
        load = Load(stack.web, stack.login(), mixed_calls(teacher_classes(stack), tag, 3),
                    rate=form.pick(1.0, 3.0)).start()
        time.sleep(form.pick(12, 90))
        outcome = load.stop()
        ended = time.monotonic()
        _count_load(stack, result, outcome, since, tag, timeout=form.pick(180, 600))
        result.recover_s = time.monotonic() - ended
        result.p99_ms = outcome.p99_ms()
        twice = _ran_twice(stack, since)
        result.duplicated += twice
        result.check(twice == 0, f"{twice} jobs ran more than once")
        reports = count.report_jobs(stack.engine, outcome.accepted())
        files = count.report_files(stack.env())
        result.notes.append(f"{len(reports)} reports, files {sum(files[str(r)] for r in reports)}")
        result.check(all(files[str(r)] == 1 for r in reports), "a report without exactly one file")
    finally:
        stack.restart_sqsd()
    return result


# -- R6 -----------------------------------------------------------------------------------------
def _published(stack: ChaosStack, ids: list[uuid.UUID]) -> dict[uuid.UUID, datetime | None]:
    with stack.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, published_at FROM jobs WHERE id = ANY(CAST(:ids AS uuid[]))"),
                            {"ids": [str(i) for i in ids]}).all()
    return {uuid.UUID(str(r.id)): r.published_at for r in rows}


def _wait_for_second(lo: int, hi: int) -> None:
    """Until the wall clock's second in the minute is in [lo, hi): the relay runs at :00."""
    while not lo <= datetime.now(UTC).second < hi:
        time.sleep(0.2)


def r6_killed_between_commit_and_send(stack: ChaosStack, form: Form) -> Result:
    """The web process group SIGKILLed while its jobs are committed and its sender is sending
    them (SQS held by the proxy, so nothing reaches moto): the relay sends them within a minute."""
    result = Result("R6", "web killed between commit and send")
    headers = stack.login()
    classes = teacher_classes(stack)
    tag = f"R6-{uuid.uuid4().hex[:6]}"
    calls = mixed_calls(classes, tag, 4)
    since = _now()
    # Away from the relay's minute, so it cannot send the jobs before the kill and spoil the test.
    _wait_for_second(3, 35)
    stack.proxy.hold()
    accepted: list[uuid.UUID] = []
    try:
        for n in range(form.pick(8, 60)):
            call = calls(n)
            response = requests.post(stack.web + call.path, json=call.body, headers=headers, timeout=30)
            # 200: the same report already in progress (coalesced), an accepted job all the same.
            result.check(response.status_code in (200, 202), f"{call.path} answered {response.status_code}")
            if response.status_code in (200, 202):
                job_id = uuid.UUID(response.headers["Location"].rsplit("/", 1)[1])
                if job_id not in accepted:
                    accepted.append(job_id)
        result.accepted = len(accepted)
        # The requests answered while the sender still sends: the handover, not the send, is on the path.
        result.check(stack.proxy.held_arrived.wait(15), "the web tier's sender never tried to send")
        stack.kill("web")
        killed = time.monotonic()
        killed_at = datetime.now(UTC)
    finally:
        stack.proxy.release(forward=False)  # what the dead process was sending never reaches SQS
    sent_before = [i for i, at in _published(stack, accepted).items() if at is not None]
    result.check(not sent_before, f"{len(sent_before)} jobs were marked sent before the kill: not injected")
    result.notes.append(f"killed the web tier with {len(accepted)} committed jobs unsent, at {killed_at:%H:%M:%S}")
    stack.start_web()
    settled = count.wait_settled(stack.engine, set(accepted), RELAY_S + 90, since=since)
    result.recover_s = time.monotonic() - killed
    result.finished = settled.finished
    result.lost = settled.lost(set(accepted))
    result.stuck = count.open_jobs_since(stack.engine, since)
    published = _published(stack, accepted)
    delays = [((at if at.tzinfo else at.replace(tzinfo=UTC)) - killed_at).total_seconds()
              for at in published.values() if at is not None]
    latest = max(delays, default=float("inf"))
    result.notes.append(f"sent by the relay {latest:.1f} s after the kill at the latest")
    # A minute for the relay's tick, plus the tick's own delivery through sqsd.
    result.check(len(delays) == len(accepted) and latest <= RELAY_S + 15,
                 f"not every job was sent within a minute of the kill (latest {latest:.0f} s)")
    activities = _activities(stack, tag)
    mails = count.emails(stack.engine, stack.urls["moto"], stack.mailbox, activities)
    result.duplicated += mails.duplicated
    result.lost += mails.missing
    result.notes.append(f"{len(activities)} activities: emails expected {mails.expected}, at SES {mails.at_ses}")
    return result


# -- R1 -----------------------------------------------------------------------------------------
def r1_sqs_unavailable(stack: ChaosStack, form: Form) -> Result:
    """moto (SQS, and with it S3 and SES) stopped with SIGSTOP: it holds every connection and
    answers nothing, the worst way to be down. Load runs before, during and after."""
    result = Result("R1", "SQS unavailable (moto SIGSTOPped)")
    tag = f"R1-{uuid.uuid4().hex[:6]}"
    before, outage, after = form.pick((10, 30, 10), (20, 60, 20))
    since = _now()
    load = Load(stack.web, stack.login(), mixed_calls(teacher_classes(stack), tag, 4),
                rate=form.pick(2.0, 4.0)).start()
    moto = stack.process("moto")
    try:
        time.sleep(before)
        paused = time.monotonic()
        moto.pause()
        time.sleep(outage)
    finally:
        moto.resume()
    resumed, resumed_at = time.monotonic(), datetime.now(UTC)
    time.sleep(after)
    outcome = load.stop()
    settled = _count_load(stack, result, outcome, since, tag, timeout=max(5.0, resumed + RECOVERY_S - time.monotonic()))
    # The last job's own finish, not when the count looked: jobs accepted after the outage count too.
    result.recover_s = max(0.0, (count.last_finished(stack.engine, since) - resumed_at).total_seconds())
    result.p99_ms = outcome.p99_ms(paused, resumed)
    result.notes.append(f"web p99 before the outage {outcome.p99_ms(0, paused):.0f} ms, during "
                        f"{result.p99_ms:.0f} ms, after {outcome.p99_ms(resumed):.0f} ms")
    result.check(result.p99_ms <= P99_UNAFFECTED_MS,
                 f"web p99 {result.p99_ms:.0f} ms during the outage: requests waited for SQS")
    result.check(result.stuck == 0 and settled.stuck == 0,
                 f"jobs still open {RECOVERY_S} s after SQS came back")
    return result


# -- R5 -----------------------------------------------------------------------------------------
GUNICORN_TIMEOUT_S = 30  # the web tier's (gunicorn.conf.py): no request may take longer
HEALTH_DETECT_S = 6  # /healthz shares one ping per process (core.db.Reachability): "a few seconds"
# A job whose run was cut by the outage keeps its lease (time limit + 30 s; a report's is 330 s)
# until reclaim-stalled takes it back: the recovery bound must let that happen once.
R5_SETTLE_S = 420


def _health_while(probes, start: float, end: float) -> Counter:
    return Counter(p.status for p in probes if start <= p.sent and p.done <= end)


def r5_database_stopped(stack: ChaosStack, form: Form) -> Result:
    """The run's own PostgreSQL stopped mid-load, once with pg_ctl's fast shutdown and once with
    immediate (a crash: recovery from the WAL on start), and started again each time."""
    result = Result("R5", "PostgreSQL stopped (fast, immediate)")
    tag = f"R5-{uuid.uuid4().hex[:6]}"
    before, down, between = form.pick((8, 15, 15), (20, 60, 30))
    since = _now()
    load = Load(stack.web, stack.login(), mixed_calls(teacher_classes(stack), tag, 4),
                rate=form.pick(2.0, 4.0)).start()
    prober = Prober(stack.web).start()
    windows: list[tuple[str, float, float]] = []
    try:
        time.sleep(before)
        for mode in ("fast", "immediate"):
            stopped = time.monotonic()
            stack.cluster.stop(mode)
            time.sleep(down)
            started = time.monotonic()
            stack.cluster.start()
            windows.append((mode, stopped, started))
            time.sleep(between)
    finally:
        if not stack.cluster.running():
            stack.cluster.start()
        outcome = load.stop()
        probes = prober.stop()
    restarted_at = datetime.now(UTC)
    for mode, stopped, started in windows:
        while_down = _health_while(probes, stopped + HEALTH_DETECT_S, started)
        back = [p for p in probes if p.sent >= started and p.status == 200]
        result.notes.append(f"{mode} stop: /healthz while down {dict(while_down)}, "
                            f"200 again {back[0].done - started:.1f} s after the start" if back else
                            f"{mode} stop: /healthz while down {dict(while_down)}, never 200 again")
        result.check(bool(while_down) and set(while_down) == {503}, f"/healthz while the database was down "
                                                                    f"({mode}): {dict(while_down)}, not only 503")
        result.check(bool(back) and back[0].done - started <= HEALTH_DETECT_S + 10,
                     f"/healthz not 200 within {HEALTH_DETECT_S + 10} s of the {mode} start")
    slowest = max((p.done - p.sent for p in probes), default=0.0)
    hung = [s for s in outcome.samples if s.status is None]
    result.check(not hung, f"{len(hung)} requests got no answer (hung or cut)")
    result.check(slowest < GUNICORN_TIMEOUT_S, f"a /healthz took {slowest:.1f} s")
    result.p99_ms = outcome.p99_ms(windows[0][1], windows[-1][2]) if windows else None
    result.notes.append(f"requests {dict(outcome.statuses())}; slowest /healthz {slowest:.2f} s; "
                        f"slowest request {max((s.latency_ms for s in outcome.samples), default=0) / 1000:.1f} s "
                        f"from its due time")
    result.check(max((s.latency_ms for s in outcome.samples), default=0) < GUNICORN_TIMEOUT_S * 1000,
                 "a request took longer than the gunicorn timeout")
    accepted = outcome.accepted()
    result.accepted = len(accepted)
    settled = count.wait_settled(stack.engine, accepted, R5_SETTLE_S, since=since)
    result.finished = settled.finished
    result.lost = settled.lost(accepted)
    result.stuck = count.open_jobs_since(stack.engine, since)
    result.recover_s = max(0.0, (count.last_finished(stack.engine, since) - restarted_at).total_seconds())
    activities = _activities(stack, tag)
    mails = count.emails(stack.engine, stack.urls["moto"], stack.mailbox, activities)
    result.duplicated += mails.duplicated
    result.lost += mails.missing
    result.notes.append(f"jobs since start {dict(count.jobs_since(stack.engine, since))}")
    result.notes.append(f"{len(activities)} activities: emails expected {mails.expected}, at SES {mails.at_ses}, "
                        f"effects {mails.effects}, in mailbox {mails.in_mailbox}, summaries {mails.summaries}")
    result.check(mails.effects == mails.expected, f"{mails.effects} email effects recorded for {mails.expected} emails")
    result.check(mails.summaries == len(activities), f"{mails.summaries} teacher summaries for {len(activities)} activities")
    return result


SCENARIOS: dict[str, Callable[[ChaosStack, Form], Result]] = {
    "R3": r3_duplicate_deliveries,
    "R6": r6_killed_between_commit_and_send,
    "R1": r1_sqs_unavailable,
    "R5": r5_database_stopped,
}
NOT_BUILT = {
    "R4": "poison messages dead-lettered after MaxRetries, marked, counted, redriven",
    "R2": "SIGKILL a worker 50 times during a 1,000-recipient publish and a 2,000-student seed",
    "R7": "clock skew: one worker 5 s ahead, one 5 s behind (faketime)",
    "R8": "soak: mixed load for 30 minutes (3 in CI), RSS/connections/open files",
}
