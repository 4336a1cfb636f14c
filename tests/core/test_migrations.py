"""The Alembic migrations and the models describe the same schema, and migrations run both ways."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import core.models  # noqa: F401  (registers every table on Base.metadata)
from core.__main__ import ROOT
from core.db import Base


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
