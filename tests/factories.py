"""Small model factories and API helpers for tests."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from core.models import Enrollment, Institution, Notification, SchoolClass, User

PASSWORD = "correct horse battery"
# A production hash (werkzeug's scrypt, N=2^15) takes ~0.15 s to check, and nearly every test logs
# in: the test users' hash is scrypt at a low cost (under 1 ms), checked by the same code, since
# check_password_hash reads the cost from the hash itself. Hashes the app makes stay full cost.
_HASH = generate_password_hash(PASSWORD, method="scrypt:256:8:1")
_seq = itertools.count(1)


def institution(session: Session, name: str = "Escola") -> Institution:
    n = next(_seq)
    school = Institution(name=f"{name} {n}", slug=f"school-{n}")
    session.add(school)
    session.flush()
    return school


def user(session: Session, school: Institution, role: str = "student", name: str | None = None) -> User:
    n = next(_seq)
    person = User(
        institution_id=school.id,
        email=f"{role}{n}@example.test",
        full_name=name or f"{role.title()} {n:04d}",
        role=role,
        password_hash=_HASH,
    )
    session.add(person)
    session.flush()
    return person


def school_class(session: Session, teacher: User, students: int = 0) -> tuple[SchoolClass, list[User]]:
    n = next(_seq)
    group = SchoolClass(institution_id=teacher.institution_id, teacher_id=teacher.id, code=f"C-{n}", name=f"Class {n}")
    session.add(group)
    session.flush()
    school = session.get(Institution, teacher.institution_id)
    pupils = [user(session, school, "student") for _ in range(students)]
    session.add_all(Enrollment(class_id=group.id, student_id=p.id) for p in pupils)
    session.flush()
    return group, pupils


def notifications(session: Session, person: User, count: int, read_every: int = 0) -> list[Notification]:
    """`count` notifications for `person`, newest last ("Note 01", body "Body of 1", ...); every
    `read_every`-th one already read."""
    base = datetime(2024, 3, 1, tzinfo=UTC)
    rows = [Notification(user_id=person.id, kind="activity", title=f"Note {i:02d}", body=f"Body of {i}",
                         dedupe_key=f"test:{i}", created_at=base + timedelta(minutes=i),
                         read_at=base if read_every and i % read_every == 0 else None)
            for i in range(1, count + 1)]
    session.add_all(rows)
    session.commit()
    return rows


def login(client, person: User) -> dict[str, str]:
    response = client.post("/api/login", json={"email": person.email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}
