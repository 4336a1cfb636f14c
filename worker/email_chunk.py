"""One run of an email job over its recipients (worker/handlers/email.py has the why): what it
found already sent, sent, refused and has yet to record; each send's intent noted and committed
as botocore is about to write the request; the checkpoints; the outcomes recorded before the run
ends, through a database outage too."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.jobs.batches import COUNTS
from core.jobs.types import EmailRecipient
from worker.context import JobContext
from worker.effects import is_intent, note_intent, record_outcomes
from worker.errors import JobCancelled, TimeLimitExceeded
from worker.outages import ride_out

log = logging.getLogger("worker.handlers.email")
# Sends between two checkpoints (progress, lease, counts; each send's outcome is recorded by the next).
RECORD_EVERY = 10
# ...and at most this many seconds between them, so progress moves even when SES is slow.
RECORD_INTERVAL = 2.0
# Refusals listed in a result; the counts always include every one.
MAX_LISTED_FAILURES = 50


@dataclass
class Chunk:
    """One run over a chunk: what it found already sent, sent, refused, and not yet recorded."""

    ctx: JobContext
    recipients: Sequence[EmailRecipient]
    already_sent: int = 0
    sent: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    failed: int = 0
    unrecorded: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # outcomes of sends
    unsent: list[str] = field(default_factory=list)  # keys noted but not sent: their rows go
    unconfirmed: list[int] = field(default_factory=list)  # users whose send may not have arrived (see the module)
    since_checkpoint: int = 0
    checkpointed_at: float = field(default_factory=time.monotonic)
    message_id: str | None = None  # of a single email, for its result

    def refuse(self, recipient: EmailRecipient, error: str, *, noted: bool) -> None:
        log.warning("email %s not sent: %s", recipient.effect_key, error)
        self.failed += 1
        self.since_checkpoint += 1
        if noted:
            self.unsent.append(recipient.effect_key)
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"to_user_id": recipient.to_user_id, "effect_key": recipient.effect_key,
                                  "error": error[:500]})

    def sent_one(self, recipient: EmailRecipient, message_id: str | None, template: str) -> None:
        self.sent += 1
        self.since_checkpoint += 1
        self.message_id = message_id
        detail: dict[str, Any] = {"message_id": message_id, "to_user_id": recipient.to_user_id, "template": template}
        if message_id is None:
            detail["unconfirmed"] = True
            self.unconfirmed.append(recipient.to_user_id)
        self.unrecorded.append((recipient.effect_key, detail))

    def found(self, recipient: EmailRecipient, job_id: Any, detail: dict[str, Any] | None) -> None:
        """An email that has a row already: sent (or noted) by an earlier run or another job."""
        self.already_sent += 1
        if len(self.recipients) == 1:
            self.message_id = (detail or {}).get("message_id")
        if not is_intent(detail):
            return
        log.warning("email %s: noted by a run that ended before SES's answer was recorded; "
                    "counted as sent, unconfirmed", recipient.effect_key)
        self.unconfirmed.append(recipient.to_user_id)
        if job_id == self.ctx.job.id:  # this job's own earlier run, dead: its answer is lost for good
            self.unrecorded.append((recipient.effect_key, {
                "message_id": None, "to_user_id": recipient.to_user_id, "template": (detail or {}).get("template"),
                "unconfirmed": True, "answer_lost": True}))

    def _saved(self) -> tuple[Any, ...]:
        return list(self.unrecorded), list(self.unsent), self.since_checkpoint, self.checkpointed_at

    def _restore(self, saved: tuple[Any, ...]) -> None:  # not committed: still to record
        self.unrecorded, self.unsent, self.since_checkpoint, self.checkpointed_at = saved

    @property
    def has_unrecorded(self) -> bool:
        return bool(self.unrecorded or self.unsent)

    def record(self) -> None:
        """Add the outcomes not yet recorded to the session (the caller commits them)."""
        record_outcomes(self.ctx.session, self.ctx.job.id, self.unrecorded, self.unsent)
        self.unrecorded, self.unsent = [], []

    def note(self, recipient: EmailRecipient, template: str) -> bool:
        """Commit the intent to send this email (and the outcomes so far) before sending it. False
        if the key has a row already: another run or job holds this email."""
        saved = self._saved()
        try:
            self.record()
            noted = note_intent(self.ctx.session, recipient.effect_key, self.ctx.job.id,
                                {"to_user_id": recipient.to_user_id, "template": template})
            self.ctx.session.commit()
        except BaseException:
            self._restore(saved)
            raise
        return noted

    def record_due(self) -> bool:
        return self.since_checkpoint >= RECORD_EVERY or time.monotonic() - self.checkpointed_at >= RECORD_INTERVAL

    def checkpoint(self) -> None:
        saved = self._saved()
        try:
            self.record()
            self.since_checkpoint, self.checkpointed_at = 0, time.monotonic()
            done = self.already_sent + self.sent + self.failed
            self.ctx.checkpoint(min(99, done * 100 // len(self.recipients)), self.result())
        except (JobCancelled, TimeLimitExceeded):
            raise  # raised after the commit: the outcomes are recorded
        except BaseException:
            self._restore(saved)
            raise

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "recipients": len(self.recipients), "sent": self.sent, "already_sent": self.already_sent,
            "failed": self.failed,
            # What the batch counts this job by (core/jobs/batches.py): emails, not jobs.
            COUNTS: {"succeeded": self.already_sent + self.sent, "failed": self.failed},
        }
        if self.failures:
            result["failures"] = self.failures
        if self.unconfirmed:
            result["unconfirmed"] = self.unconfirmed[:MAX_LISTED_FAILURES]
        if len(self.recipients) == 1:
            result["effect_key"] = self.recipients[0].effect_key
            result["message_id"] = self.message_id
        return result


def record_what_was_sent(chunk: Chunk) -> bool:
    """Commit the outcomes not recorded yet before the run ends, through a database outage too
    (worker/outages.py); False if that could not be done."""
    unrecorded = len(chunk.unrecorded) + len(chunk.unsent)

    def record() -> None:
        chunk.ctx.session.rollback()
        try:
            chunk.checkpoint()
        except (JobCancelled, TimeLimitExceeded):
            pass  # recorded; the run ends with the error that brought it here

    try:
        ride_out(chunk.ctx, record, f"the outcome of {unrecorded} emails")
    except Exception:
        log.exception("could not record the outcome of %d emails; their retry reports them unconfirmed", unrecorded)
        return False
    return True


class Taken(Exception):
    """The email's key had a row when its intent was to be noted: another run or job holds it."""


@dataclass
class Intent:
    """Notes one email's intent once, when botocore is about to put the request on the wire."""

    chunk: Chunk
    recipient: EmailRecipient
    template: str
    noted: bool = False

    def __call__(self) -> None:
        if not self.noted:
            held = self.chunk.note(self.recipient, self.template)
            self.noted = True
            if not held:
                raise Taken(self.recipient.effect_key)


_sending = threading.local()  # the intent of the send this thread is making


def _note_before_the_request(**_kwargs: Any) -> None:
    # botocore's before-send: the request is serialized and signed, only the socket write is
    # left, so a kill between the intent's commit and SES is the narrowest it can be.
    intent = getattr(_sending, "intent", None)
    if intent is not None:
        intent()


def clear_intent() -> None:
    _sending.intent = None


def noting(ses: Any, intent: Intent) -> bool:
    """Arrange for the intent to be noted inside the send; False if the client offers no
    botocore events (then it is noted before the call)."""
    events = getattr(getattr(ses, "meta", None), "events", None)
    if events is None:
        return False
    events.register_first("before-send.sesv2.SendEmail", _note_before_the_request, unique_id="aula-email-intent")
    _sending.intent = intent
    return True
