"""Email jobs: `email_chunk` (core/jobs/types.py EMAIL_CHUNK), the same email to a chunk of
users, and `email` (EMAIL), one email to one user, as the previous release enqueued it; both
run the same code, a single email as a chunk of one. Each email is sent at most once per
effect key.

The payload is small (everything else is loaded from the database when the job runs):
`context` holds ids only; each template has a loader below that turns them into what the
template shows, so an email reflects the data at sending time and a queued job stays valid
across deploys. The effect key names the email's meaning (this activity, this student), not
the job, so even a second job for the same email does not send it again.

A chunk sends one by one, and each send is noted before it is made: when botocore is about to
write the request (its before-send event: the email is rendered, the request serialized and
signed), one small transaction inserts the email's effect row marked as sending
(worker/effects.py note_intent) and commits it durably, then
the request goes out, then SES's answer is written on that row by the next such transaction (or
by a checkpoint, or by whatever ends the run). Every RECORD_EVERY sends (or RECORD_INTERVAL
seconds) a checkpoint commits the job's progress, lease and counts so far (`ctx.checkpoint`). A
key that has a row is never sent again, by the retry of the chunk or by another job: whatever
ended the run, and wherever the worker was killed, no email is sent twice. A row still marked as
sending when a run finds it is an email whose run died between its intent and the recording of
SES's answer: it is treated like a send whose answer never came (below): counted as sent, listed
as unconfirmed, written so on its row (when this job noted it), and not sent again. Almost
always it did go out (the answer is lost, not the email); only a worker killed between the
intent's commit and the request's socket write (the narrowest it can be, hence the before-send
event) leaves such an email unsent, and then it is reported unconfirmed, not lost in silence.
The same holds for a refusal whose row was not deleted yet: the retry lists it as unconfirmed,
not as refused. The intent's commit is durable, so a crash of the database server itself loses
none (with synchronous_commit off it lost the last fraction of a second, and their emails went
out twice on retry: make chaos R5). Any error that ends the run early records the outcomes first: when the
database itself is what failed (an outage, a fail-over), the run keeps trying to record what SES
answered until shortly before its lease would expire (make chaos, R5), since only this run knows
it.

A send that timed out waiting for SES's answer is ambiguous: the request may have arrived (SES
takes no idempotency key, and botocore does not retry SendEmail for that reason, core/aws.py).
It is recorded as sent but unconfirmed, listed in the result, and not sent again: a student
emailed twice about the same activity is the failure this design avoids. A send that never
connected is not ambiguous: its intent is deleted and it is retried with the job.
(A run's bookkeeping, its intents and checkpoints, is worker/email_chunk.py.)

A recipient SES refuses for good (a bounced or suppressed address, a malformed one) or who no
longer exists is listed in the result with the reason (its intent deleted, so it is not
recorded as sent) and does not stop the others; a chunk fails only when every one of its emails
was refused (e.g. an unverified sender), with the reason. SES throttling stops the chunk where
it is: what was sent is recorded, the job is retried with backoff, and the retry sends the rest.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import sqlalchemy as sa
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from sqlalchemy.orm import Session, joinedload

from core.activities import activity_path
from core.jobs.types import EMAIL, EMAIL_CHUNK, EmailChunkPayload, EmailPayload, EmailRecipient
from core.links import absolute
from core.mail import TemplateError
from core.models import Activity, Effect, SchoolClass, User
from core.notifying import local_time
from worker.context import JobContext
from worker.email_chunk import Chunk, Intent, Taken, clear_intent, noting, record_what_was_sent
from worker.errors import PermanentJobError, TransientJobError, is_permanent
from worker.handlers import handles

log = logging.getLogger(__name__)


def _person(user: Any) -> dict[str, Any]:
    return {"id": user.id, "name": user.full_name, "email": user.email}


def _activity_published(session: Session, context: dict[str, Any], base_url: str) -> dict[str, Any]:
    activity = session.scalars(
        sa.select(Activity)
        .where(Activity.id == context.get("activity_id"))
        .options(joinedload(Activity.school_class).joinedload(SchoolClass.teacher))
    ).one_or_none()
    if activity is None:
        raise PermanentJobError(f"activity {context.get('activity_id')} no longer exists")
    school_class = activity.school_class
    return {
        "teacher": _person(school_class.teacher),
        "school_class": {"id": school_class.id, "code": school_class.code, "name": school_class.name},
        "activity": {
            "id": activity.id,
            "title": activity.title,
            "description": activity.description or "",
            # In each recipient's zone: `personal` below (a shared string could only be UTC).
            "due": local_time(activity.due_at, None) if activity.due_at else None,
            "due_at": activity.due_at,
            "url": absolute(base_url, activity_path(activity.id)),
        },
    }


def _due_for(shared: dict[str, Any], user: Any) -> dict[str, Any]:
    activity = shared["activity"]
    if activity.get("due_at") is None:
        return {}
    return {"activity": {**activity, "due": local_time(activity["due_at"], user.time_zone)}}


@dataclass(frozen=True)
class EmailTemplate:
    # What every recipient's email shows, loaded once per job from the payload's ids (and the
    # site's base URL, for absolute links).
    load: Callable[[Session, dict[str, Any], str], dict[str, Any]]
    # The name the recipient (id, name, email) goes by in the template.
    recipient: str
    # What differs per recipient beyond their name (the due date in their time zone).
    personal: Callable[[dict[str, Any], Any], dict[str, Any]] = lambda shared, user: {}


# Template name -> how its context is built. Adding an email = a pair of templates in
# core/templates/email/, its name in the payloads' `template`, and an entry here.
TEMPLATES: dict[str, EmailTemplate] = {
    "activity_published": EmailTemplate(_activity_published, recipient="student", personal=_due_for),
}
_DECLARED = {name for payload in (EmailPayload, EmailChunkPayload)
             for name in get_args(payload.model_fields["template"].annotation)}
if set(TEMPLATES) != _DECLARED:  # the worker must not start with an email it cannot write
    raise RuntimeError(f"email templates declared {sorted(_DECLARED)} but loaders for {sorted(TEMPLATES)}")


def _send(ctx: JobContext, template_name: str, context: dict[str, Any], recipients: Sequence[EmailRecipient]
          ) -> dict[str, Any]:
    session = ctx.session
    chunk = Chunk(ctx, recipients)
    # Check, then note, then send, then record. The check skips what earlier runs and jobs
    # recorded; the intent's INSERT ... ON CONFLICT DO NOTHING is what makes a send exclusive:
    # a run (this job's, after a lost lease, or another job's with the same keys) that finds
    # the key taken at that moment does not send.
    recorded = {key: (job_id, detail) for key, job_id, detail in session.execute(
        sa.select(Effect.key, Effect.job_id, Effect.detail).where(Effect.key.in_([r.effect_key for r in recipients])))}
    pending = [r for r in recipients if r.effect_key not in recorded]
    for recipient in recipients:
        if recipient.effect_key in recorded:
            chunk.found(recipient, *recorded[recipient.effect_key])
    if recorded:
        log.info("%d of %d emails already sent (by an earlier run or job); not sending them again",
                 chunk.already_sent, len(recipients))
    if pending:
        template = TEMPLATES[template_name]
        users = {u.id: u for u in session.execute(
            sa.select(User.id, User.full_name, User.email, User.time_zone).where(User.id.in_({r.to_user_id for r in pending})))}
        shared = template.load(session, context, ctx.services.settings.public_base_url)
        try:
            for recipient in pending:
                _send_one(ctx, chunk, template_name, template, shared, recipient, users.get(recipient.to_user_id))
                if chunk.record_due():
                    chunk.checkpoint()
        except Exception:
            # Whatever ends the run, SES's answers are recorded first: the runner rolls the
            # session back next, and the retry must know which emails went out.
            if chunk.has_unrecorded:
                record_what_was_sent(chunk)
            raise
    # The last outcomes commit before the job's end does, through an outage too: a success that
    # cannot commit becomes a retry (worker/runner.py), which must find these recorded.
    if chunk.has_unrecorded and not record_what_was_sent(chunk):
        raise TransientJobError(f"could not record the outcome of {len(chunk.unrecorded) + len(chunk.unsent)} emails")
    if chunk.failed == len(recipients):
        first = chunk.failures[0]["error"]
        raise PermanentJobError(first if len(recipients) == 1 else f"all {len(recipients)} emails refused; first: {first}")
    return chunk.result()


def _send_one(ctx: JobContext, chunk: Chunk, template_name: str, template: EmailTemplate, shared: dict[str, Any],
              recipient: EmailRecipient, user: Any) -> None:
    if user is None:
        chunk.refuse(recipient, f"user {recipient.to_user_id} no longer exists; email {recipient.effect_key} not sent",
                     noted=False)
        return
    mailer, intent = ctx.services.mailer, Intent(chunk, recipient, template_name)
    try:
        if not noting(mailer.ses, intent):
            intent()
        try:
            message_id = mailer.send(user.email, template_name, {**shared, **template.personal(shared, user),
                                                                  template.recipient: _person(user)})
        finally:
            clear_intent()
    except Taken:
        log.warning("email %s: taken by another run or job since this one looked; not sending it", recipient.effect_key)
        chunk.already_sent += 1
        return
    except (ReadTimeoutError, ConnectionClosedError) as exc:
        # Sent, but SES's answer never came: it may have arrived (see the module's docstring).
        log.warning("email %s: no answer from SES (%s); recorded as sent, unconfirmed", recipient.effect_key, exc)
        _sent(chunk, intent, None)
        return
    except ClientError as exc:
        if intent.noted:
            chunk.unsent.append(recipient.effect_key)
        if not is_permanent(exc):
            raise  # throttling, a sending limit, SES unavailable: transient, retried with backoff
        error = exc.response.get("Error", {})
        chunk.refuse(recipient, f"SES refused the email to {user.email} ({error.get('Code')}): "
                                f"{error.get('Message') or exc}", noted=False)
        return
    except Exception as exc:
        if intent.noted:
            chunk.unsent.append(recipient.effect_key)  # never sent (no connection): tried again
        if isinstance(exc, TemplateError):
            raise PermanentJobError(str(exc)) from exc
        raise
    _sent(chunk, intent, message_id)


def _sent(chunk: Chunk, intent: Intent, message_id: str | None) -> None:
    try:
        intent()  # a send that SES answered has its row, even from a client that did not note it
    except Taken:
        log.warning("email %s: sent while another run or job held it", intent.recipient.effect_key)
        return
    chunk.sent_one(intent.recipient, message_id, intent.template)


@handles(EMAIL_CHUNK)
def send_chunk(ctx: JobContext, payload: EmailChunkPayload) -> dict[str, Any]:
    return _send(ctx, payload.template, payload.context, payload.recipients)


@handles(EMAIL)
def send_email(ctx: JobContext, payload: EmailPayload) -> dict[str, Any]:
    key = payload.effect_key or f"email:job:{ctx.job.id}"
    return _send(ctx, payload.template, payload.context, [EmailRecipient(to_user_id=payload.to_user_id, effect_key=key)])
