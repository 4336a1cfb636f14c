"""People of the operations console: an operator (platform staff, no institution)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from core.models import User
from tests.factories import _HASH, _seq


def operator(session: Session, name: str | None = None) -> User:
    n = next(_seq)
    person = User(institution_id=None, email=f"operator{n}@example.test", full_name=name or f"Operator {n:04d}",
                  role="operator", password_hash=_HASH)
    session.add(person)
    session.flush()
    return person
