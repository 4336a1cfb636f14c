"""The world P5 measures (bench/scale.py): the measured teachers, their student and the other
owners of jobs (`seed_world`), and how it grows to a size (`grow`): each measured teacher 1/OWNERS
of the jobs, a CHILD_SHARE of their additions as the email chunks of finished batches, the rest
spread over the other owners, and the student's inbox, loaded inside the database by the bulk
loader (tests/support/bulk.py)."""
from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bench.database import Database
from bench.seed import TOKEN_TTL, Seeded, seed
from core.auth import issue_token
from core.db import make_engine
from core.jobs.types import EMAIL_CHUNK
from core.models import Enrollment, User
from tests.support import bulk

TEACHERS = 8  # measured teachers (several, so enqueues do not queue on one teacher's turn)
CLASS_SIZE = 20
POLL_JOBS = 64
OWNERS = 100  # everyone who owns jobs, the measured teachers included
OWN_AT_LEAST = 50  # a measured teacher's jobs at 10^3 rows: more than one page (20)
CHILD_SHARE = 0.2  # of a measured teacher's bulk jobs: email chunks of finished batches
BATCH_SIZE = 1000  # chunks per bulk batch
# SQLite loads a million rows about half as fast as PostgreSQL (~100 s against ~50 s here): the load stops
# adding owners' rows after this long, and the rows say how far it got.
LOAD_BUDGET = {"sqlite": 300.0, "postgresql": 600.0}


@dataclass(frozen=True)
class Size:
    jobs: int
    notifications: int

    @property
    def label(self) -> str:
        return f"{power(self.jobs)} jobs, {power(self.notifications)} notifications"


SMALL = Size(1_000, 1_000)
BIG = Size(1_000_000, 100_000)
QUICK_BIG = Size(10_000, 10_000)


def power(n: int) -> str:
    """10^6 for a million; 1,234 for anything that is not a power of ten."""
    exponent = len(str(n)) - 1
    return f"10^{exponent}" if n == 10 ** exponent and n >= 100 else f"{n:,}"


@dataclass(frozen=True)
class World:
    seeded: Seeded  # the measured teachers with bearer tokens and classes, and the jobs to poll
    student_id: int
    student_token: str
    teacher_cookies: tuple[str, ...]  # a signed session cookie per teacher (a browser login)
    student_cookie: str
    others: tuple[int, ...]  # the other owners of jobs

    @property
    def teacher_ids(self) -> tuple[int, ...]:
        return tuple(t.user_id for t in self.seeded.teachers)


def session_cookie(secret_key: str, token: str) -> str:
    """The session cookie a browser holds after logging in (web/sessions.py's log_in): the login
    token, signed with the app's SECRET_KEY the way Flask signs it, and a CSRF token, as after the
    first page (without it every page would mint one and send a new cookie)."""
    app = Flask("bench_cookie")
    app.secret_key = secret_key
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None  # a secret key is set
    return serializer.dumps({"_permanent": True, "login": token, "csrf_token": secrets.token_hex(20)})


def seed_world(database_url: str, secret_key: str) -> World:
    seeded = seed(database_url, teachers=TEACHERS, class_size=CLASS_SIZE, poll_jobs=POLL_JOBS, canaries=0,
                  update_targets=0)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            teachers = [session.get(User, t.user_id) for t in seeded.teachers]
            student = session.get(User, session.execute(
                sa.select(Enrollment.student_id).where(Enrollment.class_id == seeded.teachers[0].class_id)
                .order_by(Enrollment.student_id).limit(1)).scalar_one())
            school = teachers[0].institution_id
            others = [User(institution_id=school, email=f"owner{n}@scale-{uuid.uuid4().hex[:8]}.test",
                           full_name=f"Owner {n}", role="teacher", password_hash=teachers[0].password_hash)
                      for n in range(OWNERS - TEACHERS)]
            session.add_all(others)
            session.flush()
            browser = [issue_token(session, t, TOKEN_TTL, kind="browser") for t in teachers]
            student_browser = issue_token(session, student, TOKEN_TTL, kind="browser")
            student_token = issue_token(session, student, TOKEN_TTL)
            session.commit()
            return World(seeded, student.id, student_token, tuple(session_cookie(secret_key, b) for b in browser),
                         session_cookie(secret_key, student_browser), tuple(o.id for o in others))
    finally:
        engine.dispose()


def job_targets(size: Size, teachers: tuple[int, ...], others: tuple[int, ...], have: dict[int, int]) -> dict[int, int]:
    """How many jobs each owner should have at `size`: each measured teacher 1/OWNERS of them (at
    least OWN_AT_LEAST, or what they have already: the enqueue runs add theirs), the other owners
    the rest, evenly, so the table holds `size.jobs` jobs."""
    own = max(OWN_AT_LEAST, size.jobs // (len(teachers) + len(others)))
    targets = {t: max(own, have.get(t, 0)) for t in teachers}
    rest = max(0, size.jobs - sum(targets.values()))
    for i, other in enumerate(others):
        targets[other] = rest // len(others) + (1 if i < rest % len(others) else 0)
    return targets


def plan_load(targets: dict[int, int], have: dict[int, int], measured: set[int]) -> list[tuple[int, int, int]]:
    """(owner, top-level jobs, batch children) to add so each owner reaches its target; a
    CHILD_SHARE of the measured teachers' additions are batch children."""
    steps = []
    for owner, want in targets.items():
        add = want - have.get(owner, 0)
        if add <= 0:
            continue
        children = int(add * CHILD_SHARE) if owner in measured else 0
        steps.append((owner, add - children, children))
    return steps


def grow(database: Database, world: World, size: Size, budget: float) -> dict[str, float]:
    """Add rows up to `size` with the bulk loader, then ANALYZE (VACUUM ANALYZE on PostgreSQL, as
    autovacuum soon would: the visibility map is what lets an index-only scan skip the table).
    Stops adding owners' jobs after `budget` seconds. Returns what it did."""
    engine = make_engine(database.url)
    started = time.monotonic()
    try:
        with engine.connect() as conn:
            have = dict(conn.execute(sa.text("SELECT owner_id, COUNT(*) FROM jobs WHERE owner_id IS NOT NULL "
                                             "GROUP BY owner_id")).all())
            steps = plan_load(job_targets(size, world.teacher_ids, world.others, have), have, set(world.teacher_ids))
            stopped = False
            for owner, top, children in steps:
                if time.monotonic() - started > budget:
                    stopped = True
                    break
                if top:
                    bulk.insert_jobs(conn, owner, top)
                for start in range(0, children, BATCH_SIZE):
                    n = min(BATCH_SIZE, children - start)
                    batch_id = bulk.insert_batch(conn, owner, n, f"bench-scale:{owner}:{uuid.uuid4().hex}")
                    bulk.insert_jobs(conn, owner, n, job_type=EMAIL_CHUNK.name, batch_id=batch_id)
                conn.commit()
            inbox = count_rows(conn, "SELECT COUNT(*) FROM notifications WHERE user_id = :u", u=world.student_id)
            if inbox < size.notifications and not stopped:
                # The loader numbers its dedupe keys from 1: reload the whole inbox at the new size.
                conn.execute(sa.text("DELETE FROM notifications WHERE user_id = :u"), {"u": world.student_id})
                bulk.insert_notifications(conn, world.student_id, size.notifications)
                conn.commit()
            loaded = time.monotonic() - started
            analyze(conn)
            return {"jobs": count_rows(conn, "SELECT COUNT(*) FROM jobs"),
                    "notifications": count_rows(conn, "SELECT COUNT(*) FROM notifications WHERE user_id = :u",
                                            u=world.student_id),
                    "own": count_rows(conn, "SELECT COUNT(*) FROM jobs WHERE owner_id = :u", u=world.teacher_ids[0]),
                    "load_seconds": loaded, "analyze_seconds": time.monotonic() - started - loaded,
                    "stopped": float(stopped)}
    finally:
        engine.dispose()


def count_rows(conn: Connection, sql: str, **params: object) -> int:
    return int(conn.execute(sa.text(sql), params).scalar_one())


def analyze(conn: Connection) -> None:
    """ANALYZE (VACUUM ANALYZE on PostgreSQL), then CHECKPOINT and sync: what the load wrote is
    on disk before anything is measured, as it is long before anyone opens a page in production,
    rather than flushed by the background writer and the kernel during the first rows."""
    if conn.dialect.name == "postgresql":
        conn.commit()
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.exec_driver_sql("VACUUM ANALYZE")
        autocommit.exec_driver_sql("CHECKPOINT")
    else:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    os.sync()
