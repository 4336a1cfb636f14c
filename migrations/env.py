"""Alembic environment. The URL comes from the caller (tests, `python -m core migrate`) via
config attribute `connection` / option `sqlalchemy.url`, or else from the environment by the
app's own rules (core.settings.database_settings: DATABASE_URL, else RDS_*, else local SQLite)."""
from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

import core.models  # noqa: F401  (registers every table on Base.metadata)
from core.db import Base, make_engine
from core.settings import database_settings

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _engine() -> sa.engine.Engine:
    database = database_settings(url=config.get_main_option("sqlalchemy.url") or None)
    # The app's engine rules (TLS options for RDS, SQLite pragmas) apply to migrations too.
    return make_engine(database.url, database.sslmode, database.sslrootcert)


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = _engine()
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection: sa.engine.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs go through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
