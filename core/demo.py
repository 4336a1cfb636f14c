"""The demo institution that `make run` starts with. Idempotent: it does nothing when the
institution already exists, so restarting the local stack keeps existing data."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.auth import hash_password
from core.models import Enrollment, Institution, SchoolClass, User

DEMO_SLUG = "demo"
TEACHER_PASSWORD = "aula-teacher"
STUDENT_PASSWORD = "aula-student"
ADMIN_PASSWORD = "aula-admin"

FIRST_NAMES = ("Ana", "Bruno", "Camila", "Diego", "Elena", "Felipe", "Gabriela", "Hugo", "Inés", "João",
               "Karina", "Lucas", "María", "Nicolás", "Olivia", "Pedro", "Quim", "Rafaela", "Sofía", "Tomás")
LAST_NAMES = ("Silva", "García", "Souza", "Martínez", "Costa", "Fernández", "Oliveira", "López")


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str


DEMO_LOGINS = (
    DemoLogin("admin", "admin@aula.local", ADMIN_PASSWORD),
    DemoLogin("teacher", "teacher@aula.local", TEACHER_PASSWORD),
    DemoLogin("teacher", "teacher2@aula.local", TEACHER_PASSWORD),
    DemoLogin("student", "student01@aula.local", STUDENT_PASSWORD),
)


def seed_demo(session: Session, students: int = 36) -> bool:
    """Create the demo institution; return False if it was already there."""
    if session.scalar(sa.select(Institution.id).where(Institution.slug == DEMO_SLUG)) is not None:
        return False
    school = Institution(name="Escola Aula Demo", slug=DEMO_SLUG)
    session.add(school)
    session.flush()
    hashes = {p: hash_password(p) for p in (ADMIN_PASSWORD, TEACHER_PASSWORD, STUDENT_PASSWORD)}

    def person(email: str, name: str, role: str, password: str) -> User:
        user = User(institution_id=school.id, email=email, full_name=name, role=role, password_hash=hashes[password])
        session.add(user)
        return user

    person("admin@aula.local", "Adriana Admin", "admin", ADMIN_PASSWORD)
    teacher = person("teacher@aula.local", "Teresa Docente", "teacher", TEACHER_PASSWORD)
    teacher2 = person("teacher2@aula.local", "Tiago Professor", "teacher", TEACHER_PASSWORD)
    names = itertools.product(LAST_NAMES, FIRST_NAMES)
    pupils = [
        person(f"student{n:02d}@aula.local", f"{first} {last}", "student", STUDENT_PASSWORD)
        for n, (last, first) in zip(range(1, students + 1), names)
    ]
    session.flush()
    algebra = SchoolClass(institution_id=school.id, teacher_id=teacher.id, code="MAT-101", name="Álgebra I")
    history = SchoolClass(institution_id=school.id, teacher_id=teacher2.id, code="HIS-201", name="História do Brasil")
    session.add_all([algebra, history])
    session.flush()
    session.add_all(Enrollment(class_id=algebra.id, student_id=p.id) for p in pupils)
    session.add_all(Enrollment(class_id=history.id, student_id=p.id) for p in pupils[::2])
    session.commit()
    return True
