"""Fixtures for tests of the shared package that need a database but no app."""
from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from core.db import make_engine


@pytest.fixture
def session(database_url):
    """A plain session on a migrated database (both backends), its engine disposed of after."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()
