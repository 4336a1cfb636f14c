"""The demo institution that `make run` starts with, created by the `seed_institution` workflow
(worker/workflows/seed/) through the real queue.

Idempotent: nothing is started when the institution exists or a seed of it is still under way,
so restarting the local stack keeps existing data and never runs two seeds.

The demo operator (platform staff: the operations console, across institutions) belongs to no
institution, so it is not part of the seed workflow: `start_demo_seed` adds it the first time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.auth import hash_password
from core.db import insert_or_ignore
from core.models import Institution, User
from core.seeding import (
    ADMIN_PASSWORD,
    STUDENT_PASSWORD,
    TEACHER_PASSWORD,
    latest_seed_workflow,
    open_seed_workflows,
    seed_params,
    start_seed,
)

DEMO_SLUG = "demo"
DEMO_PARAMS = {"name": "Escola Aula Demo", "slug": DEMO_SLUG, "email_domain": "aula.local", "students": 36}


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
OPERATOR_PASSWORD = "aula-operator"  # the demo convention: aula-<role>
# Not @aula.local: the seed refuses an email domain that is in use, and the operator exists
# before the demo institution's seed has run.
DEMO_OPERATOR = DemoLogin("operator", "operator@ops.aula.local", OPERATOR_PASSWORD)
OPERATOR_NAME = "Otávio Operador"


def ensure_demo_operator(session: Session) -> bool:
    """Add the demo operator unless it exists; True if it was added. Does not commit."""
    if session.scalar(sa.select(User.id).where(User.email == DEMO_OPERATOR.email)) is not None:
        return False
    # ON CONFLICT DO NOTHING: two `seed-demo` runs at once add it once, and neither fails.
    return insert_or_ignore(session, User, ["email"], institution_id=None, email=DEMO_OPERATOR.email,
                            full_name=OPERATOR_NAME, role=DEMO_OPERATOR.role,
                            password_hash=hash_password(DEMO_OPERATOR.password))


def start_demo_seed(session: Session) -> tuple[str, Any]:
    """Start the demo seed unless there is nothing to do. Returns ("started", workflow),
    ("present", None) or ("running", workflow). Commits when it starts one; the caller then
    sends its first message (core.jobs.outbox.flush) or leaves that to the relay. Adds the demo
    operator first if it is missing (and commits that)."""
    if ensure_demo_operator(session):
        session.commit()
    if session.scalar(sa.select(Institution.id).where(Institution.slug == DEMO_SLUG)) is not None:
        return "present", None
    running = open_seed_workflows(session, DEMO_SLUG)
    if running:
        return "running", running[0]
    workflow = start_seed(session, seed_params(DEMO_PARAMS))
    session.commit()
    return "started", workflow


def demo_status(session: Session) -> tuple[str, str | None]:
    """("ready", None) once the demo data is complete; ("seeding", None) while its workflow
    runs; ("failed", reason) if the last seed failed or was undone; ("missing", None)."""
    if open_seed_workflows(session, DEMO_SLUG):
        return "seeding", None
    if session.scalar(sa.select(Institution.id).where(Institution.slug == DEMO_SLUG)) is not None:
        return "ready", None
    latest = latest_seed_workflow(session, DEMO_SLUG)
    if latest is not None and latest.state in ("failed", "compensated", "cancelled"):
        return "failed", f"demo seed workflow {latest.id} {latest.state}: {latest.error or 'no reason given'}"
    return "missing", None
