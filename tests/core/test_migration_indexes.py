"""Migration 0005 builds its indexes CONCURRENTLY on PostgreSQL (the tables may be large and the
old release keeps writing while the new one migrates). Such a build that is interrupted leaves
an invalid index behind; running the migration again must build it anew, not keep the husk."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from core.__main__ import ROOT


def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["skip_logging_config"] = True
    return config


def _index(conn, name: str) -> tuple[bool, bool, str] | None:
    row = conn.execute(sa.text(
        "SELECT i.indisvalid, i.indisunique, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = :name"), {"name": name}).first()
    return None if row is None else (row[0], row[1], row[2])


def test_an_interrupted_concurrent_build_is_built_again(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent index builds are PostgreSQL's")
    config = _config(database_url)
    command.downgrade(config, "0004")
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("INSERT INTO institutions (name, slug, created_at) VALUES ('E', 'e', now())"))
            conn.execute(sa.text("INSERT INTO users (institution_id, email, full_name, role, password_hash, created_at)"
                                 " SELECT id, 's@e.test', 'S', 'student', 'x', now() FROM institutions"))
            conn.execute(sa.text("INSERT INTO notifications (user_id, kind, title, body, dedupe_key, created_at)"
                                 " SELECT id, 'a', 'T', '', k, now() FROM users, (VALUES ('a'), ('b')) AS keys(k)"))
            # A unique build over two rows of one user fails half way, as a killed deploy would.
            with pytest.raises(sa.exc.IntegrityError):
                conn.execute(sa.text("CREATE UNIQUE INDEX CONCURRENTLY ix_notifications_user_created"
                                     " ON notifications (user_id)"))
            assert _index(conn, "ix_notifications_user_created")[:2] == (False, True)
        command.upgrade(config, "head")
        with engine.connect() as conn:
            valid, unique, definition = _index(conn, "ix_notifications_user_created")
        assert (valid, unique) == (True, False)
        assert definition.endswith("(user_id, created_at, id)")
    finally:
        engine.dispose()
        command.upgrade(config, "head")
