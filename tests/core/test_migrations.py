"""The Alembic migrations and the models describe the same schema, and migrations run both ways."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

import core.models  # noqa: F401  (registers every table on Base.metadata)
from core.__main__ import ROOT
from core.db import Base, make_engine, utcnow
from core.jobs import stats
from core.models.ops import JobMinute
from tests.conftest import BACKENDS


def _alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    config.attributes["skip_logging_config"] = True  # keep the test run's logging as it is
    return config


def _differences(url: str, metadata: sa.MetaData = Base.metadata) -> list:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()


def _state(url: str) -> tuple[set[str], str | None]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names()), MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(database_url):
    assert _differences(database_url) == []


def test_the_comparison_would_notice_drift(database_url):
    drifted = sa.MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["jobs"].append_column(sa.Column("priority", sa.Integer))
    diffs = _differences(database_url, drifted)
    assert [(d[0], d[2], d[3].name) for d in diffs] == [("add_column", "jobs", "priority")]


def test_downgrade_to_base_and_upgrade_to_head_again(database_url):
    config = _alembic_config(database_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert _state(database_url)[1] == head

    command.downgrade(config, "base")
    tables, revision = _state(database_url)
    assert tables <= {"alembic_version"} and revision is None

    command.upgrade(config, "head")
    tables, revision = _state(database_url)
    assert revision == head
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert _differences(database_url) == []


# ---- 0006 (operations console): triggers, backfill, and the way back, on a database of its own

@pytest.fixture(params=BACKENDS)
def blank_database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.sqlite3'}"
        return
    admin_url = sa.engine.make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    name = f"aula_blank_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _schema(url: str) -> dict:
    """Every table's columns, keys, indexes and checks, as the database describes them."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            found = {}
            for table in sorted(inspector.get_table_names()):
                indexes = [(i["name"], tuple(i["column_names"]), bool(i["unique"]),
                            str(sorted((k, str(v)) for k, v in i.get("dialect_options", {}).items())))
                           for i in inspector.get_indexes(table)]
                found[table] = {
                    "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                    "pk": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
                    "fks": sorted((f["name"] or "", tuple(f["constrained_columns"]), f["referred_table"],
                                   str(sorted(f["options"].items()))) for f in inspector.get_foreign_keys(table)),
                    "indexes": sorted(indexes),
                    "checks": sorted((c["name"], " ".join(c["sqltext"].split()))
                                     for c in inspector.get_check_constraints(table)),
                    "uniques": sorted((u["name"], tuple(u["column_names"]))
                                      for u in inspector.get_unique_constraints(table)),
                }
            return found
    finally:
        engine.dispose()


def _at_0005_with_rows(url: str) -> tuple[dict[str, int], datetime]:
    """Migrate to 0005 and write what a live database has: people with logins, jobs in every
    state (finished ones recently and long ago). Returns the row counts and the time written."""
    command.upgrade(_alembic_config(url), "0005")
    written_at = utcnow()
    now = written_at.replace(tzinfo=None)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO institutions (id, name, slug, created_at) VALUES (1, 'E', 'e', :now)"),
                         {"now": now})
            conn.execute(sa.text("INSERT INTO users (id, institution_id, email, full_name, role, password_hash,"
                                 " created_at) VALUES (1, 1, 't@e', 'T', 'teacher', 'x', :now)"), {"now": now})
            conn.execute(sa.text("INSERT INTO api_tokens (user_id, token_hash, kind, created_at, expires_at)"
                                 " VALUES (1, 'h', 'bearer', :now, :now)"), {"now": now})
            rows = []
            for n, (job_type, state, finished_minutes_ago) in enumerate(
                [("report", "queued", None)] * 3 + [("report", "running", None), ("email", "retrying", None)]
                + [("email", "succeeded", 5)] * 4 + [("email", "failed", 5), ("report", "cancelled", 65)]
                + [("report", "succeeded", 60 * 24 * 10)]  # finished before job_minutes' 8 days
            ):
                finished = None if finished_minutes_ago is None else now - timedelta(minutes=finished_minutes_ago)
                rows.append({"id": uuid.UUID(int=n + 1).hex if url.startswith("sqlite") else uuid.UUID(int=n + 1),
                             "type": job_type, "state": state, "owner": 1, "created": now, "finished": finished,
                             "started": None if finished is None else finished - timedelta(seconds=2)})
            conn.execute(sa.text(
                "INSERT INTO jobs (id, type, payload, owner_id, state, attempts, progress, trace_id, created_at,"
                " started_at, finished_at) VALUES (:id, :type, '{}', :owner, :state, 1, 0, 't', :created, :started,"
                " :finished)"), rows)
    finally:
        engine.dispose()
    return _row_counts(url), written_at


def _row_counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in ("users", "api_tokens", "jobs")}
    finally:
        engine.dispose()


def test_0006_backfills_the_counters_and_keeps_every_row(blank_database_url):
    before, written_at = _at_0005_with_rows(blank_database_url)
    command.upgrade(_alembic_config(blank_database_url), "head")
    # SQLite copies users and jobs to change them: nothing that points at a user is cascaded away.
    assert _row_counts(blank_database_url) == before
    engine = make_engine(blank_database_url)
    try:
        with Session(engine) as session:
            assert stats.counts(session) == {
                "report": {"queued": 3, "running": 1, "cancelled": 1, "succeeded": 1},
                "email": {"retrying": 1, "succeeded": 4, "failed": 1},
            }
            # job_minutes from the last 8 days only; the successes ran 2 s each.
            assert session.scalar(sa.select(sa.func.count()).select_from(JobMinute)) == 2
            hour = lambda at: at.replace(minute=0, second=0, microsecond=0)
            assert {(name, t.at): (t.succeeded, t.failed, t.cancelled, t.total_ms)
                    for name, tallies in stats.last_day(session, written_at).by_type.items()
                    for t in tallies if t.finished} == {
                ("email", hour(written_at - timedelta(minutes=5))): (4, 1, 0, 4 * 2000),
                ("report", hour(written_at - timedelta(minutes=65))): (0, 0, 1, 0),
            }
            # The triggers count from here on.
            session.execute(sa.text("UPDATE jobs SET state = 'running', attempts = 2 WHERE state = 'retrying'"))
            session.commit()
            assert stats.counts(session)["email"] == {"running": 1, "succeeded": 4, "failed": 1}
    finally:
        engine.dispose()


def test_0006_downgrades_to_the_0005_schema_and_keeps_the_rows(blank_database_url):
    before, _ = _at_0005_with_rows(blank_database_url)
    schema_0005 = _schema(blank_database_url)
    config = _alembic_config(blank_database_url)
    command.upgrade(config, "0006")
    engine = make_engine(blank_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO users (id, institution_id, email, full_name, role, password_hash,"
                                 " created_at) VALUES (2, NULL, 'op@e', 'Op', 'operator', 'x', :now)"),
                         {"now": utcnow().replace(tzinfo=None)})
    finally:
        engine.dispose()
    with pytest.raises(RuntimeError, match="1 operator account"):
        command.downgrade(config, "0005")
    assert _state(blank_database_url)[1] == "0006"
    engine = make_engine(blank_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM users WHERE role = 'operator'"))
    finally:
        engine.dispose()
    command.downgrade(config, "0005")
    assert _state(blank_database_url)[1] == "0005"
    assert _schema(blank_database_url) == schema_0005
    assert _row_counts(blank_database_url) == before
