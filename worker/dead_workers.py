"""What a dead worker process leaves behind, released by the gunicorn master that saw it die.

A sync worker killed mid-run (SIGKILL, the OOM killer, the gunicorn timeout's SIGABRT) cannot
record its outcome, so its job stays `running` under a lease of the job type's time limit + 30 s
(330 s for a workflow step). sqsd redelivers the message after ErrorVisibilityTimeout, finds
the lease live and answers `not_claimed`; the job runs again only once the lease has expired and
`reclaim-stalled` requeued it, minutes later (make chaos, R2). The master knows at once that
the process is gone: its `child_exit` hook expires the leases of the jobs that pid claimed
(`jobs.claimed_by` is "host/pid", core/jobs/lifecycle.py `claimer`), so the redelivery claims
the job as a new attempt, counted against the type's max_attempts like any other.

Only the dead pid's own claims are touched, on this host, and only while they are `running`
under that claim: a pid is reused only after the master reaped it, which is when this runs.
A failure here only leaves the lease to expire by itself, as before."""
from __future__ import annotations

import logging
import socket
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db import utcnow
from core.models import Job

log = logging.getLogger(__name__)
# Expired for every instance whose clock is within this of ours (make chaos R7 skews by 5 s).
CLOCK_MARGIN = timedelta(minutes=1)


def claimer_of(pid: int) -> str:
    """jobs.claimed_by as the process `pid` of this host wrote it (lifecycle.claimer)."""
    return f"{socket.gethostname()}/{pid}"[:128]


def release_claims(connection: Connection, pid: int) -> int:
    """Expire the leases of the running jobs claimed by the dead process `pid`; how many."""
    released = connection.execute(
        sa.update(Job)
        .where(Job.state == "running", Job.claimed_by == claimer_of(pid), Job.lease_expires_at.is_not(None))
        .values(lease_expires_at=utcnow() - CLOCK_MARGIN)
    ).rowcount
    connection.commit()
    return released


def release_dead_worker(pid: int) -> int:
    """`release_claims` on a connection of its own (the master has no pool; the database as the
    app finds it, core.settings.database_settings), bounded by core.db.make_engine's connect
    timeout; never raises."""
    from core.db import make_engine
    from core.settings import database_settings

    try:
        database = database_settings()
        engine = make_engine(database.url, database.sslmode, database.sslrootcert)
    except Exception:
        log.warning("could not release the jobs of dead worker %s", pid, exc_info=True)
        return 0
    try:
        with engine.connect() as connection:
            released = release_claims(connection, pid)
    except Exception:
        log.warning("could not release the jobs of dead worker %s; their leases expire by themselves", pid,
                    exc_info=True)
        return 0
    finally:
        engine.dispose()
    return released
