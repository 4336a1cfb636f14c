"""Periodic tasks that cron.yaml schedules. sqsd may deliver two runs at once, so each is safe
to run concurrently (conditional updates; sending a message twice is harmless)."""
from __future__ import annotations

from typing import Callable

from core.app import Services
from core.db import utcnow
from core.jobs import lifecycle, outbox
from core.jobs.types import JOB_TYPES


def relay_outbox(services: Services) -> dict[str, int]:
    with services.db.sessions() as session:
        return {"sent": outbox.relay(session, services.queue)}


def reclaim_stalled(services: Services) -> dict[str, int]:
    with services.db.sessions() as session:
        reclaimed = lifecycle.reclaim_stalled(session, JOB_TYPES, utcnow())
        sent = outbox.relay(session, services.queue) if reclaimed else 0
    return {"reclaimed": reclaimed, "sent": sent}


TASKS: dict[str, Callable[[Services], dict[str, int]]] = {
    "relay-outbox": relay_outbox,
    "reclaim-stalled": reclaim_stalled,
}
