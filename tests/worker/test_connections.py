"""The connections job messages run on: kept from one message to the next while clean, given up
after an error or an open transaction, closed when the app's database is disposed of."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.jobs.outbox import envelope_for
from tests.sqsd import deliver
from worker.connections import EXTENSION, MessageConnections


def test_consecutive_messages_run_on_one_kept_connection(worker_app, worker_client, probe, make_job):
    seen = []
    probe.behaviour = lambda ctx: seen.append(ctx.session.bind) or {"ok": True}
    for job in (make_job(), make_job(), make_job()):
        assert deliver(worker_client, envelope_for(job).to_json()).get_json()["outcome"] == "succeeded"
    assert len(seen) == 3 and seen[0] is seen[1] is seen[2]


class _Crash(BaseException):
    """Gets past the runner's handling, as a signal or a crash in the middle of a message would."""


def test_a_message_that_ends_in_an_error_gives_its_connection_up(worker_app, worker_client, probe, make_job):
    seen = []

    def broken(ctx):
        seen.append(ctx.session.bind)
        raise _Crash()

    probe.behaviour = broken
    with pytest.raises(_Crash):
        deliver(worker_client, envelope_for(make_job()).to_json())
    probe.behaviour = lambda ctx: seen.append(ctx.session.bind) or {"ok": True}
    assert deliver(worker_client, envelope_for(make_job()).to_json()).get_json()["outcome"] == "succeeded"
    assert seen[0] is not seen[1] and seen[0].closed


def test_a_connection_left_in_a_transaction_is_not_kept(worker_app):
    kept: MessageConnections = worker_app.extensions[EXTENSION]
    taken = kept.take()
    taken[1].execute(sa.text("SELECT 1"))  # autobegins, and nobody commits
    kept.give_back(taken, clean=True)
    assert taken[1].closed and kept.take()[1] is not taken[1]


def test_disposing_of_the_database_closes_the_kept_connections(worker_app, worker_client, probe, make_job):
    seen = []
    probe.behaviour = lambda ctx: seen.append(ctx.session.bind) or {"ok": True}
    assert deliver(worker_client, envelope_for(make_job()).to_json()).status_code == 200
    worker_app.extensions["aula"].db.dispose()
    assert seen[0].closed
    # The app still works: the next message opens a new connection.
    assert deliver(worker_client, envelope_for(make_job()).to_json()).get_json()["outcome"] == "succeeded"
    assert seen[1] is not seen[0]
