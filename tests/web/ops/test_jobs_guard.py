"""web/common/ops/jobs_guard.py: a console read that would take too long is cancelled by
PostgreSQL and answered 422 "narrow your filter", naming the filter without an index; the
request's transaction stays usable and the timeout does not outlive the read."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.jobs.ops_jobs_filter import JobFilter, PayloadTerm
from web.common.ops.jobs_guard import bounded, unindexed_filter
from web.common.refusal import Refusal


def test_the_filter_to_narrow_is_the_one_without_an_index():
    assert unindexed_filter(JobFilter(state="failed", error="x")) == "error"
    assert unindexed_filter(JobFilter(payload=[PayloadTerm(key="a", value="1")])) == "payload"
    assert unindexed_filter(JobFilter(state="failed")) is None


def test_a_slow_read_is_a_422_and_the_session_goes_on(db):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite (local development) has no statement timeout")
    before = db.scalar(sa.text("SELECT current_setting('statement_timeout')"))
    with pytest.raises(Refusal) as refused, bounded(db, JobFilter(error="throttl"), timeout_ms=20):
        db.execute(sa.text("SELECT pg_sleep(0.5)"))
    assert refused.value.status == 422 and refused.value.extra["field"] == "error"
    assert "narrow your filter" in refused.value.message
    assert db.scalar(sa.text("SELECT 1")) == 1  # the transaction is usable
    assert db.scalar(sa.text("SELECT current_setting('statement_timeout')")) == before
    with bounded(db, JobFilter(), timeout_ms=500):
        assert db.scalar(sa.text("SELECT current_setting('statement_timeout')")) == "500ms"
    assert db.scalar(sa.text("SELECT current_setting('statement_timeout')")) == before


def test_other_database_errors_are_not_turned_into_422(db):
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    with pytest.raises(sa.exc.DBAPIError), bounded(db, JobFilter()):
        db.execute(sa.text("SELECT 1 / 0"))
    db.rollback()
