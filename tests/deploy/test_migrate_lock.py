"""`python -m core migrate` runs from the leader of BOTH tiers' deployments (.ebextensions/10-migrate.config):
on PostgreSQL an advisory lock makes concurrent runs take turns."""
from __future__ import annotations

import os
import threading

import pytest
import sqlalchemy as sa

from core.__main__ import migrate

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                                reason="advisory locks are PostgreSQL's; set TEST_DATABASE_URL (CI does)")
MIGRATION_LOCK_KEY = 0x41756C61  # the key core/__main__.py migrate() takes


def test_a_second_migration_waits_for_the_one_running_then_finds_nothing_to_do(pg_database, capfd):
    engine = sa.create_engine(pg_database)
    finished, errors = threading.Event(), []

    def second_run() -> None:
        try:
            migrate(pg_database)
        except BaseException as exc:  # noqa: BLE001  (reported below, in the test's thread)
            errors.append(exc)
        finally:
            finished.set()

    try:
        with engine.connect() as first_run:  # stands for a migration in progress on another instance
            first_run.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            first_run.commit()
            thread = threading.Thread(target=second_run)
            thread.start()
            assert not finished.wait(1.0), "migrate did not wait for the migration holding the lock"
            first_run.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
            first_run.commit()
        assert finished.wait(60) and not errors, errors
        thread.join()
        assert "another migration is running; waiting" in capfd.readouterr().err
        with engine.connect() as check:
            # A one-number advisory key below 2**32 shows as objid, with objsubid 1.
            held = check.execute(sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND objid = :key"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
                {"key": MIGRATION_LOCK_KEY}).scalar()
            head = check.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert held == 0, "the lock must be released when the migration ends"
        assert head
    finally:
        engine.dispose()
