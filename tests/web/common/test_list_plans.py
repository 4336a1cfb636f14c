"""The lists, the quota and the coalescing lookup read the indexes made for them (migration
0005), on both databases: a query whose text drifts from its partial index's condition would
quietly read the whole table once there are a million rows. Checked on the statement each one
really runs: PostgreSQL's EXPLAIN with sequential scans priced out (so the plan shows an index
that can serve the query, whatever the size of the test's tables); on SQLite the statement is
run again with INDEXED BY the index, which SQLite refuses ("no query solution") when the
index cannot serve it: its planner has no statistics on a test's few rows to choose by.
docs/scale.md has the PostgreSQL plans at 10^6 rows."""
from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from core.models import Activity
from tests import factories
from web.common import access
from web.common.activities import fanout_job
from web.common.lists import OWN_JOBS, OWN_NOTIFICATIONS
from web.common.notifications import unread
from web.common.pagination import capped_count
from web.common.submit import _open_duplicate, in_flight_below


@pytest.fixture
def person(db):
    user = factories.user(db, factories.institution(db), "teacher")
    db.commit()
    return user


def _check(db, run, indexes: dict[str, tuple[str, ...]]) -> None:
    """Run `run(db)`, then check the plan of the last statement it executed: each table of
    `indexes` is read through one of its indexes."""
    engine = db.get_bind()
    captured: list = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        run(db)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    cursor = db.connection().connection.cursor()
    try:
        if engine.dialect.name == "postgresql":
            # As if never analyzed, the premise above: a test run earlier on this database may have
            # left the statistics of thousands of rows (its bulk load's ANALYZE, or autovacuum's),
            # by which the planner prices another index (a CI run: ix_jobs_created, filtering on
            # the owner). The tests connect as the server's superuser, who may reset them.
            for table in indexes:
                cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", (table,))
                cursor.execute("UPDATE pg_class SET reltuples = -1, relpages = 0 WHERE oid = %s::regclass OR oid IN "
                               "(SELECT indexrelid FROM pg_index WHERE indrelid = %s::regclass)", (table, table))
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN (COSTS OFF) " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            for table, names in indexes.items():
                assert any(f"{name} on {table}" in plan for name in names), plan
        else:
            def forced(match: re.Match) -> str:
                return f"{match.group(0)} INDEXED BY {indexes[match.group(1)][0]}"

            tables = "|".join(indexes)
            cursor.execute(re.sub(rf"\bFROM ({tables})\b", forced, statement), parameters)  # raises if unusable
    finally:
        cursor.close()
        db.rollback()


AT = datetime(2026, 3, 1, tzinfo=UTC)



def _page_after(statement, keyset, key):
    return statement.where(keyset.beyond(key, forward=True)).limit(21)


LISTED = ("ix_jobs_owner_listed", "ix_jobs_owner_state_listed")  # either serves a user's whole list
CASES = {
    "jobs list": (lambda db, u: db.scalars(access.own_jobs(u).limit(21)).all(), {"jobs": LISTED}),
    "jobs list, next page": (
        lambda db, u: db.scalars(_page_after(access.own_jobs(u), OWN_JOBS, (AT, uuid.UUID(int=1)))).all(),
        {"jobs": LISTED}),
    # The console's (owner, state, created_at) index (migration 0010) ties with the partial ones on
    # a test's empty tables; at 10^6 rows with a quarter of them fan-out children the planner keeps
    # to ix_jobs_owner_listed / _state_listed (docs/console.md), so it is accepted here only.
    "jobs list count": (lambda db, u: capped_count(db, access.own_jobs(u)),
                        {"jobs": (*LISTED, "ix_jobs_owner_state_created")}),
    "jobs of one state": (lambda db, u: db.scalars(access.own_jobs(u, "failed").limit(21)).all(),
                          # The console's (state, created_at) index is the cheaper plan where, as
                          # here, one user holds most jobs of the state; with many users the owner's.
                          {"jobs": ("ix_jobs_owner_state_listed", "ix_jobs_state_created",
                                    "ix_jobs_owner_state_created")}),
    "inbox": (lambda db, u: db.scalars(access.own_notifications(u).limit(21)).all(),
              {"notifications": ("ix_notifications_user_created",)}),
    "inbox, next page": (
        lambda db, u: db.scalars(_page_after(access.own_notifications(u), OWN_NOTIFICATIONS, (AT, 5))).all(),
        {"notifications": ("ix_notifications_user_created",)}),
    "unread": (lambda db, u: db.scalars(access.own_notifications(u, unread_only=True).limit(21)).all(),
               {"notifications": ("ix_notifications_user_unread",)}),
    "unread count": (lambda db, u: unread(db, u), {"notifications": ("ix_notifications_user_unread",)}),
    "quota": (lambda db, u: db.scalar(sa.select(in_flight_below(u.id, 5))),
              {"jobs": ("ix_jobs_owner_in_flight",), "batches": ("ix_batches_owner_open",),
               "workflows": ("ix_workflows_owner_unfinished",)}),
    "coalescing": (lambda db, u: _open_duplicate(db, "0" * 64), {"jobs": ("uq_jobs_open_dedupe",)}),
    # The teacher's activity page, polled while its emails go out. PostgreSQL may take either
    # index on a few rows; with a million fan-out children only the partial one is small.
    "an activity's fan-out": (lambda db, u: fanout_job(db, Activity(id=1, created_at=AT), u.id),
                              {"jobs": ("ix_jobs_owner_listed", "ix_jobs_owner_created")}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_query_reads_its_index(db, person, case):
    run, indexes = CASES[case]
    _check(db, lambda session: run(session, person), indexes)
