"""The `email` job (core/jobs/types.py EMAIL): one email to one user, sent at most once per
effect key.

The payload is small (everything else is loaded from the database when the job runs):
`context` holds ids only; each template has a loader below that turns them into what the
template shows, so an email reflects the data at sending time and a queued job stays valid
across deploys. The effect key names the email's meaning (this activity, this student), not
the job, so even a second job for the same email does not send it again.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, get_args

import sqlalchemy as sa
from botocore.exceptions import ClientError
from sqlalchemy.orm import Session, joinedload

from core.jobs.types import EMAIL, EmailPayload
from core.mail import TemplateError
from core.models import Activity, Effect, SchoolClass, User
from worker.context import JobContext
from worker.effects import record_effect
from worker.errors import PermanentJobError, is_permanent
from worker.handlers import handles

log = logging.getLogger(__name__)


def _person(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.full_name, "email": user.email}


def _activity_published(session: Session, to: User, context: dict[str, Any]) -> dict[str, Any]:
    activity = session.scalars(
        sa.select(Activity)
        .where(Activity.id == context.get("activity_id"))
        .options(joinedload(Activity.school_class).joinedload(SchoolClass.teacher))
    ).one_or_none()
    if activity is None:
        raise PermanentJobError(f"activity {context.get('activity_id')} no longer exists")
    school_class = activity.school_class
    return {
        "student": _person(to),
        "teacher": _person(school_class.teacher),
        "school_class": {"id": school_class.id, "code": school_class.code, "name": school_class.name},
        "activity": {
            "id": activity.id,
            "title": activity.title,
            "description": activity.description or "",
            "due": activity.due_at.strftime("%Y-%m-%d %H:%M UTC") if activity.due_at else None,
        },
    }


# Template name -> loader of its context from the payload's ids. Adding an email = a pair of
# templates in core/templates/email/, its name in EmailPayload.template, and a loader here.
TEMPLATE_CONTEXT: dict[str, Callable[[Session, User, dict[str, Any]], dict[str, Any]]] = {
    "activity_published": _activity_published,
}
_DECLARED = set(get_args(EmailPayload.model_fields["template"].annotation))
if set(TEMPLATE_CONTEXT) != _DECLARED:  # the worker must not start with an email it cannot write
    raise RuntimeError(f"email templates declared {sorted(_DECLARED)} but loaders for {sorted(TEMPLATE_CONTEXT)}")


@handles(EMAIL)
def send_email(ctx: JobContext, payload: EmailPayload) -> dict[str, Any]:
    session = ctx.session
    template, to_user_id = payload.template, payload.to_user_id
    key = payload.effect_key or f"email:job:{ctx.job.id}"

    # Check, then send, then insert: safe because only one run of this job exists at a time.
    # The claim (one conditional UPDATE) gives this run a lease; another delivery of the same
    # message is answered `not_claimed` while the lease lives, and the Mailer's SES call is
    # bounded to a few seconds, far inside the lease. Another job with the same key exists
    # only if the same email was enqueued twice; the fan-out creates one batch per activity
    # (under a lock on the activity row), so that does not happen in normal operation, and
    # if it does, record_effect's ON CONFLICT keeps the second insert from failing the job.
    done = session.get(Effect, key)
    if done is not None:
        log.info("email %s already sent (job %s); not sending again", key, done.job_id)
        return {"effect_key": key, "message_id": (done.detail or {}).get("message_id"), "already_sent": True}

    to = session.get(User, to_user_id)
    if to is None:
        raise PermanentJobError(f"user {to_user_id} no longer exists; email {key} not sent")
    context = TEMPLATE_CONTEXT[template](session, to, payload.context)

    try:
        message_id = ctx.services.mailer.send(to.email, template, context)
    except TemplateError as exc:
        raise PermanentJobError(str(exc)) from exc
    except ClientError as exc:
        if is_permanent(exc):
            error = exc.response.get("Error", {})
            raise PermanentJobError(
                f"SES refused the email to {to.email} ({error.get('Code')}): {error.get('Message') or exc}"
            ) from exc
        raise  # throttling, a sending limit, SES unavailable: transient, retried with backoff

    # At-least-once window: a crash between SES accepting the email and the commit of this
    # row (with the job's success) sends it again on the retry. SES takes no idempotency key.
    detail = {"message_id": message_id, "to_user_id": to.id, "template": template}
    if not record_effect(session, key, ctx.job.id, detail):
        log.warning("email %s was recorded by another job while this one sent it: possibly sent twice", key)
    return {"effect_key": key, "message_id": message_id}
