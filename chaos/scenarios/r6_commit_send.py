"""R6: the web process killed between commit and send; the relay sends within a minute."""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import requests
import sqlalchemy as sa

from chaos import count
from chaos.result import Result
from chaos.scenarios.common import RELAY_S, Form, mixed_calls, now, tagged_activities, teacher_classes
from chaos.stack import ChaosStack


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
    since = now()
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
    activities = tagged_activities(stack, tag)
    mails = count.emails(stack.engine, stack.urls["moto"], stack.mailbox, activities)
    result.duplicated += mails.duplicated
    result.lost += mails.missing
    result.notes.append(f"{len(activities)} activities: emails expected {mails.expected}, at SES {mails.at_ses}")
    return result
