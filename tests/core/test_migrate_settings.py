"""`python -m core migrate` finds the database by the app's own rules: on an Elastic Beanstalk
environment with an attached RDS instance only RDS_* are set, and the leader must migrate that
database, not a local SQLite file."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.__main__ import ROOT

pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                                reason="needs the test PostgreSQL; set TEST_DATABASE_URL (CI does)")


@pytest.fixture
def empty_pg_database():
    admin_url = sa.engine.make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    name = f"aula_rds_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _tables(url: sa.engine.URL) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_migrate_with_only_rds_variables_migrates_that_database(empty_pg_database, tmp_path: Path):
    url = empty_pg_database
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DATABASE_", "RDS_")) and key != "TEST_DATABASE_URL"}
    env.update({"RDS_HOSTNAME": url.host or "127.0.0.1", "RDS_PORT": str(url.port or 5432),
                "RDS_DB_NAME": url.database, "RDS_USERNAME": url.username or "postgres",
                # Trust auth ignores it; characters that need quoting in a URL must survive.
                "RDS_PASSWORD": "p@ss:w%rd/1", "PYTHONPATH": str(ROOT)})
    run = subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert {"alembic_version", "jobs", "users", "login_throttles"} <= _tables(url)
    assert not (tmp_path / "var").exists(), "migrate wrote a local SQLite database instead"


def test_migrate_names_a_bad_rds_setting_instead_of_migrating_sqlite(tmp_path: Path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_", "RDS_"))}
    env.update({"RDS_HOSTNAME": "db.example", "RDS_DB_NAME": "aula", "PYTHONPATH": str(ROOT)})
    run = subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert "RDS_USERNAME is required" in run.stderr and "RDS_PASSWORD is required" in run.stderr
    assert not (tmp_path / "var").exists()
