"""The benchmark's own database: a fresh SQLite file, or a throwaway database created on the
PostgreSQL server of `--database-url` and dropped at the end. Either is migrated the way a
deploy does it (`python -m core migrate`), never the database the URL names."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from core.settings import normalize_database_url

ROOT = Path(__file__).resolve().parent.parent
MIGRATE_TIMEOUT = 180


@dataclass(frozen=True)
class Database:
    url: str  # as the app reads DATABASE_URL (sqlite:///... or postgresql+psycopg://...)
    kind: str  # "sqlite" or "postgresql"
    version: str


def migrate(url: str) -> None:
    """`python -m core migrate` in a child process, as the deploy's leader runs it."""
    done = subprocess.run([sys.executable, "-m", "core", "migrate"], cwd=ROOT, env=_env_with(url), check=False,
                          timeout=MIGRATE_TIMEOUT, capture_output=True, text=True)
    if done.returncode != 0:  # alembic's progress lines are noise unless it failed
        raise RuntimeError(f"python -m core migrate failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def _env_with(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url}


@contextmanager
def throwaway(server_url: str | None, work_dir: Path) -> Iterator[Database]:
    if not server_url:
        path = work_dir / "bench.sqlite3"
        url = f"sqlite:///{path}"
        migrate(url)
        yield Database(url, "sqlite", f"SQLite {sqlite3.sqlite_version}")
        return
    admin_url = sa.engine.make_url(normalize_database_url(server_url))
    name = f"aula_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            version = conn.execute(sa.text("SHOW server_version")).scalar()
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = admin_url.set(database=name).render_as_string(hide_password=False)
            migrate(url)
            yield Database(url, "postgresql", f"PostgreSQL {version}")
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def driver_target(url: str) -> str:
    """What the raw driver connects with: libpq's URI for psycopg, the file path for sqlite3."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    if url.startswith("postgresql+psycopg://"):
        return "postgresql://" + url[len("postgresql+psycopg://"):]
    raise ValueError(f"not a database URL the benchmark knows: {url.split(':')[0]!r}")
