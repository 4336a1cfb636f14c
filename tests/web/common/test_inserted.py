"""web.common.inserted.attach: an instance for a row inserted by one Core statement behaves like
one the session loaded: no SQL to get it, found by session.get, and a later change flushes as an
UPDATE of only that column."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from core.db import utcnow
from core.models import Institution, User
from tests import factories
from web.common.inserted import attach


def test_an_attached_row_is_persistent_and_its_changes_flush_as_an_update(db):
    school = factories.institution(db)
    db.commit()
    now = utcnow()
    values = {"institution_id": school.id, "email": "attached@example.test", "full_name": "Attached",
              "role": "student", "password_hash": "x", "created_at": now}
    user_id = db.execute(sa.insert(User).values(values).returning(User.id)).scalar_one()
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_rest):
        statements.append(statement)

    event.listen(db.get_bind(), "before_cursor_execute", seen)
    try:
        user = attach(db, User, {"id": user_id, **values})
        assert sa.inspect(user).persistent and not db.dirty
        assert db.get(User, user_id) is user and statements == []
        user.full_name = "Renamed"
        db.commit()
        updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
        assert len(updates) == 1 and "full_name" in updates[0] and "email" not in updates[0]
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", seen)
    db.expire_all()
    assert db.get(User, user_id).full_name == "Renamed"
    assert isinstance(db.get(User, user_id).institution, Institution)  # relationships load as usual


def test_an_unknown_column_is_refused(db):
    with pytest.raises(ValueError, match="nickname"):
        attach(db, User, {"id": 1, "nickname": "x"})
