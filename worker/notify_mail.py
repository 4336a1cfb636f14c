"""Emails that notification jobs (grades, reminders, digests) send one recipient at a time, each
at most once per effect key, with the same recording rules as the email chunks
(worker/handlers/email.py): check the key, send, record; every RECORD_EVERY sends the recorded
keys (and whatever else the job wrote so far, its notifications) commit with a checkpoint, so a
retry never sends a recorded email again. An error that ends the run records what was sent
first; only a dead process leaves the documented window (at most RECORD_EVERY emails).

A recipient SES refuses for good is counted as failed and the others are still sent; throttling
and other transient errors end the run, to be retried with backoff.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from botocore.exceptions import ClientError

from core.jobs.batches import COUNTS
from core.mail import TemplateError
from core.models import Effect
from worker.context import JobContext
from worker.effects import record_effect
from worker.errors import PermanentJobError, is_permanent

log = logging.getLogger(__name__)
RECORD_EVERY = 10
MAX_LISTED_FAILURES = 50


@dataclass
class Sending:
    """One run's count of what it sent, found sent, or had refused, for the job's result."""

    ctx: JobContext
    total: int
    sent: int = 0
    already_sent: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    since_checkpoint: int = 0

    def already(self, key: str) -> bool:
        return self.ctx.session.scalar(sa.select(Effect.key).where(Effect.key == key)) is not None

    def send(self, key: str, user_id: int, to: str, template: str, context: dict[str, Any],
             detail: dict[str, Any] | None = None) -> bool:
        """Send one email unless `key` is recorded; record it. True if sent now."""
        if self.already(key):
            self.already_sent += 1
            return False
        try:
            message_id = self.ctx.services.mailer.send(to, template, context)
        except TemplateError as exc:
            raise PermanentJobError(str(exc)) from exc
        except ClientError as exc:
            if not is_permanent(exc):
                raise  # throttling, SES unavailable: retried with backoff; `recording` records first
            error = exc.response.get("Error", {})
            self.refuse(user_id, key, f"SES refused the email to {to} ({error.get('Code')}): "
                                      f"{error.get('Message') or exc}")
            return False
        record_effect(self.ctx.session, key, self.ctx.job.id,
                      {"message_id": message_id, "to_user_id": user_id, "template": template, **(detail or {})})
        self.sent += 1
        self.since_checkpoint += 1
        if self.since_checkpoint >= RECORD_EVERY:
            self.checkpoint()
        return True

    def refuse(self, user_id: int, key: str, error: str) -> None:
        log.warning("email %s not sent: %s", key, error)
        self.failed += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"to_user_id": user_id, "effect_key": key, "error": error[:500]})

    def done_one(self) -> None:
        """A recipient handled without an email (the inbox only, the digest, already submitted)."""
        self.skipped += 1

    def checkpoint(self) -> None:
        handled = self.sent + self.already_sent + self.skipped + self.failed
        self.ctx.checkpoint(min(99, handled * 100 // max(1, self.total)), self.result())
        self.since_checkpoint = 0

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Around the loop over recipients: whatever ends the run early, what SES accepted is
        committed first (the runner rolls the session back next, and the retry must skip it)."""
        try:
            yield
        except Exception:
            if self.since_checkpoint:
                try:
                    self.checkpoint()
                except Exception:
                    log.exception("could not record %d sent emails; their retry may send them again",
                                  self.since_checkpoint)
            raise

    def result(self, **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = {
            "recipients": self.total, "sent": self.sent, "already_sent": self.already_sent,
            "without_email": self.skipped, "failed": self.failed,
            # What the batch counts this job by: recipients handled, not emails (one may get none).
            COUNTS: {"succeeded": self.sent + self.already_sent + self.skipped, "failed": self.failed}, **extra,
        }
        if self.failures:
            result["failures"] = self.failures
        return result
