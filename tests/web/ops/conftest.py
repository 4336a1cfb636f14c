"""The console's callers: an operator, an admin of institution A with a teacher and a student
there, and an admin of institution B with a teacher; committed."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.models import Institution, User
from tests import factories, factories_ops


@dataclass
class Staff:
    operator: User
    school_a: Institution
    admin_a: User
    teacher_a: User
    student_a: User
    school_b: Institution
    admin_b: User
    teacher_b: User


@pytest.fixture
def staff(db) -> Staff:
    school_a, school_b = factories.institution(db, "A"), factories.institution(db, "B")
    people = Staff(
        operator=factories_ops.operator(db),
        school_a=school_a, admin_a=factories.user(db, school_a, "admin"),
        teacher_a=factories.user(db, school_a, "teacher"), student_a=factories.user(db, school_a, "student"),
        school_b=school_b, admin_b=factories.user(db, school_b, "admin"),
        teacher_b=factories.user(db, school_b, "teacher"),
    )
    db.commit()
    return people
