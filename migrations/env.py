"""Alembic environment. The URL comes from the caller (tests, `python -m core migrate`) via
config attribute `connection` / option `sqlalchemy.url`, or else from DATABASE_URL."""
from __future__ import annotations

import os
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

import core.models  # noqa: F401  (registers every table on Base.metadata)
from core.db import Base, make_engine
from core.settings import DEFAULT_DATABASE_URL, normalize_database_url

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _engine() -> sa.engine.Engine:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    # The app's engine rules (TLS options for RDS, SQLite pragmas) apply to migrations too.
    return make_engine(
        normalize_database_url(url),
        os.environ.get("DATABASE_SSLMODE") or None,
        os.environ.get("DATABASE_SSLROOTCERT") or None,
    )


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
