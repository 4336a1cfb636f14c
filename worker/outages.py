"""Riding out a database outage: a run that has done its work, and cannot record it because the
database is unavailable (an outage, an RDS fail-over), keeps trying while its lease still covers
it. Only this run knows what it did (the emails SES accepted, the outcome of its handler); given
up, the job waits for its lease to expire and its retry does the work again (make chaos, R5).

It stops LEASE_MARGIN_SECONDS before the lease expires, so no other delivery can take the job over
while this run may still write; after that the run gives up as before."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from worker.context import JobContext
from worker.errors import database_unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE_MARGIN_SECONDS = 15.0
# Waits between tries (the last repeats).
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 5.0)


def ride_out(ctx: JobContext, record: Callable[[], T], what: str) -> T:
    """`record()`, tried again after a database outage while the lease allows; its last error is
    raised when it does not. Each try starts from a rolled-back session: the connection the
    session holds reconnects on its next use."""
    deadline = time.monotonic() + ctx.lease_left() - LEASE_MARGIN_SECONDS
    delays = iter(RETRY_DELAYS)
    while True:
        try:
            return record()
        except Exception as exc:
            delay = next(delays, RETRY_DELAYS[-1])
            if not database_unavailable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("database unavailable while recording %s; trying again in %.1f s", what, delay)
        time.sleep(delay)
        try:
            ctx.session.rollback()
        except Exception as exc:  # noqa: BLE001  (the next try reports what is still wrong)
            log.debug("rollback before trying again failed: %s", exc)
