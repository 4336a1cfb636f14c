"""Runs one job message: claim, run the handler, record the outcome, answer sqsd.

Only 200 makes sqsd delete the message, so 200 is the answer whenever the outcome is recorded
(success, permanent failure, a retry we scheduled ourselves, a duplicate). Anything else means
"could not even record it" and sqsd redelivers, then dead-letters after MaxRetries.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from core.app import Services
from core.db import utcnow
from core.jobs import lifecycle, outbox, pauses
from core.jobs.contract import JobType
from core.jobs.envelope import Envelope
from core.jobs.lifecycle import ClaimedJob
from core.logs import bind
from core.models import Job
from core.models.jobs import OPEN_STATES
from core.parsing import InputError
from worker import faults
from worker.connections import MessageConnections
from worker.context import JobContext
from worker.errors import JobCancelled, PermanentJobError, database_unavailable, is_permanent
from worker.handlers import Handler
from worker.outages import ride_out

log = logging.getLogger(__name__)
# What a run ended in, as the job metrics name it (core/metrics.py).
METRIC_OUTCOMES = {"succeeded": "succeeded", "failed": "failed", "retry_scheduled": "retrying",
                   "cancelled": "cancelled", "stopped": "stopped", "lease_lost": "lease_lost"}


@dataclass
class Outcome:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


def run_message(services: Services, envelope: Envelope, handlers: Mapping[str, Handler[Any]],
                connections: MessageConnections) -> Outcome:
    bind(job_id=str(envelope.job_id), job_type=envelope.type)
    # handlers.get(envelope.type), unless `make chaos` injects a fault (worker/faults.py; off by default)
    handler = faults.handler_for(envelope.type, handlers)
    if handler is None:
        # Possibly a newer web tier mid-deploy: redeliver, and dead-letter if it never resolves.
        log.error("unknown job type %r", envelope.type)
        return Outcome(422, {"error": f"unknown job type {envelope.type!r}"})
    if envelope.type in pauses.paused_types(services.db.engine):
        return _held(envelope, connections)
    taken: tuple[int, Connection] | None = connections.take()
    clean = False
    try:
        claimed_at = utcnow()
        try:
            # The common case in one statement on the kept connection (no ORM): claim and read the row.
            job = lifecycle.claim_run(taken[1], envelope.job_id, handler.job_type, claimed_at)
        except Exception as exc:
            if not _connection_lost(exc, taken[1]):
                raise
            # The database had dropped the kept connection (a fail-over, idle reaping): the claim
            # did not run, so it runs again on a new one. (Were it run and its answer lost, this
            # claim finds the job running under that lease and leaves it; the lease expires and
            # the reclaim task requeues the job.)
            log.warning("database connection lost before the claim; claiming again on a new one")
            connections.give_back(taken, clean=False)
            taken = None
            taken = connections.take()
            job = lifecycle.claim_run(taken[1], envelope.job_id, handler.job_type, claimed_at)
        outcome = _after_claim(services, envelope, handler, taken[1], job, claimed_at)
        clean = True
        return outcome
    finally:
        # After an error (the database, a bug, a signal) the next message gets a new connection.
        if taken is not None:
            connections.give_back(taken, clean)


def _held(envelope: Envelope, connections: MessageConnections) -> Outcome:
    """A delivery of a paused type: acknowledged (200, so SQS deletes it: no receive count
    climbs towards the dead-letter queue while the pause lasts) without a claim, and its job
    marked unpublished, so it stays queued and the relay sends it again once the type is resumed
    (core/jobs/pauses.py). A job that is not open (running, finished) is left as it is."""
    taken = connections.take()
    clean = False
    try:
        connection = taken[1]
        with connection.begin():
            state = connection.scalar(sa.select(Job.state).where(Job.id == envelope.job_id, Job.type == envelope.type))
            if state in OPEN_STATES:
                connection.execute(sa.update(Job).where(Job.id == envelope.job_id, Job.state.in_(OPEN_STATES))
                                   .values(published_at=None))
        clean = True
    finally:
        connections.give_back(taken, clean)
    if state is None:
        # As for any delivery whose row is missing or of another type: redeliver, then dead-letter.
        log.error("job row of this type not found")
        return Outcome(404, {"error": f"job {envelope.job_id} of type {envelope.type!r} not found"})
    log.info("job type %s is paused: message acknowledged, job left %s%s", envelope.type, state,
             " and unpublished" if state in OPEN_STATES else "")
    return Outcome(200, {"outcome": "paused", "state": state})


def _after_claim(services: Services, envelope: Envelope, handler: Handler[Any], connection: Connection,
                 job: ClaimedJob | None, claimed_at: datetime) -> Outcome:
    job_type = handler.job_type
    with services.db.sessions(bind=connection) as session:
        if job is None:
            return _not_claimed(services, session, envelope, job_type, claimed_at)

        bind(attempt=job.attempts)
        # DEBUG: every run ends in one INFO metric line (core/metrics.py) with the same context.
        log.debug("job started (attempt %d of %d)", job.attempts, job_type.max_attempts)
        ctx = JobContext(job=job, job_type=job_type, attempt=job.attempts, session=session, services=services)
        outcome = _run(ctx, handler, connection)
        # Follow-ups, next workflow steps and retries were committed with the outcome; send now.
        outbox.flush(session, services.queue)
        # Queue wait runs from when this attempt could start: enqueued, or its retry fell due.
        ready_at = job.next_attempt_at or job.created_at
        services.metrics.job_finished(job_type.name, METRIC_OUTCOMES.get(outcome.body.get("outcome"), "other"),
                                      time.monotonic() - ctx.started, (claimed_at - ready_at).total_seconds())
        return outcome


def _connection_lost(exc: Exception, connection: Connection) -> bool:
    """The error says the connection is dead (SQLAlchemy's verdict on a statement, the dialect's
    on a driver error raised outside one, e.g. switching to autocommit)."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated
    if not isinstance(exc, connection.dialect.loaded_dbapi.Error):
        return False
    try:
        raw = connection.connection.dbapi_connection
    except SQLAlchemyError:  # closed or invalidated: no driver connection left at all
        return True
    return connection.dialect.is_disconnect(exc, raw, None)


def _not_claimed(services: Services, session: Session, envelope: Envelope, job_type: JobType,
                 now: datetime) -> Outcome:
    job = session.get(Job, envelope.job_id)
    if job is None:
        # Rows are only deleted long after their messages are gone, so a missing row means a
        # misconfigured database or a foreign message: keep it (redeliver, then dead-letter).
        log.error("job row not found")
        return Outcome(404, {"error": f"job {envelope.job_id} not found"})
    if job.type != envelope.type:
        log.error("message type %r does not match the job's type %r", envelope.type, job.type)
        return Outcome(422, {"error": "message type does not match the job"})
    if lifecycle.give_up_expired(session, job.id, job_type, now):
        # Its worker died on the last attempt it had (killed, instance gone): recorded as a
        # failure, which moves its batch or workflow on; send what that enqueued.
        session.commit()
        session.refresh(job)
        outbox.flush(session, services.queue)
        log.error("job failed: %s", job.error)
        # Counted like any failure, so the failure-rate alarm sees jobs that kill their worker;
        # how long the dead run lasted is not known.
        services.metrics.job_finished(job_type.name, "failed", None, None)
        return Outcome(200, {"outcome": "failed", "error": job.error})
    if job.state in OPEN_STATES and job.next_attempt_at is not None and job.next_attempt_at > now:
        # Delivered before it is due (an early copy, another instance's clock): answering 200
        # deletes this message, so first make sure another one will come when it is due.
        try:
            delay = outbox.resend_not_due(session, services.queue, job, now)
        except Exception as exc:
            session.rollback()
            log.error("message for a job not yet due could not be sent again; sqsd will redeliver it", exc_info=exc)
            return Outcome(503, {"error": "the job is not due yet and its message could not be sent again"})
        if delay is None:
            log.info("job %s not due until %s; left to the outbox relay", job.state, job.next_attempt_at.isoformat())
        else:
            log.info("job %s not due until %s; message sent again with a %d s delay",
                     job.state, job.next_attempt_at.isoformat(), delay)
        return Outcome(200, {"outcome": "not_claimed", "state": job.state,
                             "next_attempt_at": job.next_attempt_at.isoformat(), "resent_with_delay_seconds": delay})
    log.info("message not claimed: job is %s", job.state)
    return Outcome(200, {"outcome": "not_claimed", "state": job.state})


def _nothing_else_to_commit(ctx: JobContext) -> bool:
    """The run's success would be the whole transaction: the handler touched nothing through
    its session, and there is no batch or workflow for the success to move on."""
    session, job = ctx.session, ctx.job
    return (job.batch_id is None and job.workflow_id is None and not session.in_transaction()
            and not (session.new or session.dirty or session.deleted))


def _run(ctx: JobContext, handler: Handler[Any], connection: Connection) -> Outcome:
    session, job = ctx.session, ctx.job
    try:
        try:
            payload = handler.job_type.parse(job.payload)
        except InputError as exc:
            raise PermanentJobError(f"invalid payload: {exc.message}") from exc
        result = handler.run(ctx, payload)
    except JobCancelled as exc:
        session.rollback()
        return ride_out(ctx, partial(_record_cancel, ctx, exc), "the cancellation")
    except Exception as exc:  # noqa: BLE001  (every failure is recorded and classified, never lost)
        session.rollback()
        if is_permanent(exc):
            return ride_out(ctx, partial(_record_failure, ctx, exc), "the failure")
        return _transient(ctx, exc)

    try:
        if _nothing_else_to_commit(ctx):
            # One statement, no BEGIN or COMMIT round trips: the canary, and any job like it.
            recorded = lifecycle.succeed_alone(connection, job.id, ctx.attempt, result, utcnow())
        else:
            recorded = lifecycle.succeed(session, job.id, ctx.attempt, result, utcnow())
            if recorded:
                session.commit()
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        # The success and the handler's writes did not commit (or this connection cannot tell):
        # a retry, fenced by the attempt like any other, does the work again once the database
        # is back; handlers are idempotent, as every delivery may be repeated.
        session.rollback()
        return _transient(ctx, exc)
    if not recorded:
        session.rollback()
        log.warning("job finished but its lease was lost; the newer run's outcome stands")
        return Outcome(200, {"outcome": "lease_lost"})
    # No line of its own: the metric line (core/metrics.py) says "job <type> succeeded in <s>".
    return Outcome(200, {"outcome": "succeeded"})


def _record_cancel(ctx: JobContext, exc: JobCancelled) -> Outcome:
    session = ctx.session
    if lifecycle.cancelled(session, ctx.job.id, ctx.attempt, utcnow()):
        session.commit()
        log.info("job cancelled at a progress point")
        return Outcome(200, {"outcome": "cancelled"})
    session.rollback()
    log.warning("job run stopped: %s", exc)
    return Outcome(200, {"outcome": "stopped"})


def _record_failure(ctx: JobContext, exc: Exception) -> Outcome:
    lifecycle.fail(ctx.session, ctx.job.id, ctx.attempt, str(exc) or type(exc).__name__, utcnow())
    ctx.session.commit()
    log.error("job failed permanently: %s", exc)
    return Outcome(200, {"outcome": "failed"})


def _transient(ctx: JobContext, exc: Exception) -> Outcome:
    """Record a retry (or the last attempt's failure), through a database outage too: given up,
    the job would wait for its lease to expire before anything retried it."""
    return ride_out(ctx, partial(_record_transient, ctx, exc), "a retry")


def _record_transient(ctx: JobContext, exc: Exception) -> Outcome:
    session, job, job_type = ctx.session, ctx.job, ctx.job_type
    error = f"{type(exc).__name__}: {exc}"
    now = utcnow()
    if ctx.attempt >= job_type.max_attempts:
        lifecycle.fail(session, job.id, ctx.attempt, f"gave up after {ctx.attempt} attempts; last error: {error}", now)
        session.commit()
        log.error("job failed after %d attempts: %s", ctx.attempt, error, exc_info=exc)
        return Outcome(200, {"outcome": "failed"})
    next_at = now + job_type.backoff(ctx.attempt)
    if not lifecycle.schedule_retry(session, job.id, ctx.attempt, error, next_at):
        session.rollback()
        return Outcome(200, {"outcome": "lease_lost"})
    # The claimed snapshot with the new due time: the envelope and delay of the retry's message.
    outbox.requeue(session, replace(job, next_attempt_at=next_at))
    session.commit()
    log.warning("job attempt %d failed, retrying at %s: %s", ctx.attempt, next_at.isoformat(), error, exc_info=exc)
    return Outcome(200, {"outcome": "retry_scheduled", "next_attempt_at": next_at.isoformat()})
