"""What the scenarios (docs/reliability.md) share. Each scenario, a module of this package, takes the running stack and the form (short for
CI, long on demand), injects its fault into the real processes, and counts the outcome at the
source of truth (chaos/count.py). A scenario leaves the stack as it found it: every process up,
with its ordinary settings."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from chaos import count
from chaos.load import Call, Outcome
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


def now() -> datetime:
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


def tagged_activities(stack: ChaosStack, tag: str) -> list[count.Activity]:
    with stack.engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM activities WHERE title LIKE :t ORDER BY id"),
                           {"t": f"{tag} #%"}).scalars().all()
    return [count.activity(stack.engine, i) for i in ids]


def count_load(stack: ChaosStack, result: Result, outcome: Outcome, since: datetime, tag: str,
                timeout: float) -> count.Settled:
    """The common tally: accepted jobs, their children, the emails of the activities published."""
    result.notes.append(f"requests {dict(outcome.statuses())}")
    settled = settle_accepted(stack, result, outcome.accepted(), since, timeout)
    tally_emails(stack, result, since, tag)
    failed = outcome.failed()
    result.check(not failed, f"{len(failed)} requests failed (5xx or no answer), e.g. "
                             f"{[(s.path, s.status) for s in failed[:3]]}")
    return settled



def settle_accepted(stack: ChaosStack, result: Result, accepted: set, since: datetime, timeout: float) -> count.Settled:
    """Wait for the accepted jobs; count them finished, lost, and every job since `since` still open."""
    result.accepted = len(accepted)
    settled = count.wait_settled(stack.engine, accepted, timeout, since=since)
    result.finished = settled.finished
    result.lost = settled.lost(accepted)
    result.stuck = count.open_jobs_since(stack.engine, since)
    return settled


def tally_emails(stack: ChaosStack, result: Result, since: datetime, tag: str) -> None:
    """The emails of the activities the load published (tagged), at SES, in effects and the
    mailbox, and one teacher summary each."""
    activities = tagged_activities(stack, tag)
    mails = count.emails(stack.engine, stack.urls["moto"], stack.mailbox, activities)
    result.duplicated += mails.duplicated
    result.lost += mails.missing
    result.notes.append(f"jobs since start {dict(count.jobs_since(stack.engine, since))}")
    result.notes.append(f"{len(activities)} activities: emails expected {mails.expected}, at SES {mails.at_ses}, "
                        f"effects {mails.effects}, in mailbox {mails.in_mailbox}, summaries {mails.summaries}")
    result.check(mails.effects == mails.expected, f"{mails.effects} email effects recorded for {mails.expected} emails")
    result.check(mails.summaries == len(activities), f"{mails.summaries} teacher summaries for {len(activities)} activities")
