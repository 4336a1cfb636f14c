"""The people and classes most web tests start from, committed; each test adds what it needs."""
from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def person(db):
    """A teacher of a new institution."""
    user = factories.user(db, factories.institution(db), "teacher")
    db.commit()
    return user


@pytest.fixture
def admin(db):
    """An admin of a new institution."""
    user = factories.user(db, factories.institution(db), "admin")
    db.commit()
    return user


@pytest.fixture
def school(db):
    """A teacher with a 45-student class ("big", its "students") and a 2-student one ("small",
    "few"), a colleague with their own class ("theirs"), an admin, and a teacher of another
    institution ("stranger")."""
    inst = factories.institution(db)
    teacher = factories.user(db, inst, "teacher")
    big, students = factories.school_class(db, teacher, students=45)
    small, few = factories.school_class(db, teacher, students=2)
    colleague = factories.user(db, inst, "teacher")
    theirs, _ = factories.school_class(db, colleague, students=1)
    admin = factories.user(db, inst, "admin")
    stranger = factories.user(db, factories.institution(db), "teacher")
    db.commit()
    return {"teacher": teacher, "big": big, "small": small, "students": students, "few": few,
            "colleague": colleague, "theirs": theirs, "admin": admin, "stranger": stranger}
