"""What the measured paths need, written straight into the benchmark's database: teachers each
with a class of students and a bearer token (core.auth.issue_token: logging in is not what is
measured), report jobs to poll, and queued `canary` jobs for the worker to claim, one per POST.

Many teachers rather than one: an enqueue takes its teacher's lock (web/common/submit.py), so
32 connections for one teacher would measure that lock's queue instead of the path."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from core.auth import issue_token
from core.db import make_engine, utcnow
from core.jobs.types import ACTIVITY_FANOUT, CANARY, REPORT, CanaryPayload
from core.models import Enrollment, Institution, Job, SchoolClass, User
from core.models.jobs import OPEN_STATES

TOKEN_TTL = 24 * 3600
CHUNK = 2000  # rows per bulk INSERT


@dataclass(frozen=True)
class Teacher:
    user_id: int
    class_id: int
    token: str


@dataclass(frozen=True)
class Seeded:
    teachers: tuple[Teacher, ...]
    poll_jobs: tuple[tuple[str, str], ...]  # (job id, its owner's token)
    canaries: tuple[str, ...]  # queued canary jobs the worker claims, one per POST
    update_targets: tuple[str, ...]  # canary rows reference (d) updates


def seed(database_url: str, *, teachers: int = 40, class_size: int = 20, poll_jobs: int = 64,
         canaries: int = 10_000, update_targets: int = 5_000) -> Seeded:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            people = _school(session, teachers, class_size)
            tokens = [Teacher(t.id, c.id, issue_token(session, t, TOKEN_TTL)) for t, c in people]
            session.commit()
            polled = _report_jobs(session, tokens, poll_jobs)
            worker_jobs = _canaries(session, canaries, "worker")
            reference_jobs = _canaries(session, update_targets, "reference")
            session.commit()
        return Seeded(tuple(tokens), tuple(polled), tuple(worker_jobs), tuple(reference_jobs))
    finally:
        engine.dispose()


def _school(session: Session, teachers: int, class_size: int) -> list[tuple[User, SchoolClass]]:
    password = generate_password_hash("bench-not-a-login")  # nobody logs in: tokens are issued
    school = Institution(name="Bench School", slug=f"bench-{uuid.uuid4().hex[:8]}")
    session.add(school)
    session.flush()
    staff = [User(institution_id=school.id, email=f"teacher{n}@{school.slug}.test", full_name=f"Teacher {n}",
                  role="teacher", password_hash=password) for n in range(teachers)]
    students = [User(institution_id=school.id, email=f"student{n}@{school.slug}.test", full_name=f"Student {n:05d}",
                     role="student", password_hash=password) for n in range(teachers * class_size)]
    session.add_all(staff + students)
    session.flush()
    classes = [SchoolClass(institution_id=school.id, teacher_id=t.id, code=f"B-{n}", name=f"Bench class {n}")
               for n, t in enumerate(staff)]
    session.add_all(classes)
    session.flush()
    session.execute(sa.insert(Enrollment), [
        {"class_id": classes[n // class_size].id, "student_id": s.id} for n, s in enumerate(students)
    ])
    return list(zip(staff, classes, strict=True))


def _report_jobs(session: Session, teachers: list[Teacher], count: int) -> list[tuple[str, str]]:
    """Running reports (so a poll gets Retry-After and an ETag, as while a user waits)."""
    now, rows, polled = utcnow(), [], []
    for n in range(count):
        teacher = teachers[n % len(teachers)]
        payload = REPORT.dump(REPORT.parse({"kind": "class_roster", "class_id": teacher.class_id, "format": "csv"}))
        job_id = uuid.uuid4()
        rows.append({"id": job_id, "type": REPORT.name, "payload": payload, "owner_id": teacher.user_id,
                     "state": "running", "attempts": 1, "progress": 40, "trace_id": uuid.uuid4().hex,
                     "created_at": now, "published_at": now, "started_at": now,
                     "lease_expires_at": now + timedelta(days=1)})
        polled.append((str(job_id), teacher.token))
    session.execute(sa.insert(Job), rows)
    return polled


def _canaries(session: Session, count: int, note: str) -> list[str]:
    """Queued canary jobs already marked published, so no relay sends them: the benchmark POSTs
    their envelopes itself."""
    now, payload = utcnow(), CANARY.dump(CanaryPayload(note=f"bench {note}"))
    ids = [uuid.uuid4() for _ in range(count)]
    for start in range(0, count, CHUNK):
        session.execute(sa.insert(Job), [
            {"id": job_id, "type": CANARY.name, "payload": payload, "owner_id": None, "state": "queued",
             "attempts": 0, "progress": 0, "trace_id": job_id.hex, "created_at": now, "published_at": now}
            for job_id in ids[start:start + CHUNK]
        ])
    return [str(job_id) for job_id in ids]


def settle_enqueued(database_url: str) -> int:
    """Mark the fan-out jobs the enqueue runs created as done (no worker runs them here), so each
    run starts with the teachers' in-flight count where the first one did."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            return conn.execute(sa.update(Job).where(Job.type == ACTIVITY_FANOUT.name, Job.state.in_(OPEN_STATES))
                                .values(state="succeeded", finished_at=utcnow())).rowcount
    finally:
        engine.dispose()


def canaries_done(database_url: str, ids: list[str]) -> int:
    """How many of these canary jobs a worker has claimed and recorded as succeeded."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            done = 0
            for start in range(0, len(ids), 500):
                chunk = [uuid.UUID(i) for i in ids[start:start + 500]]
                done += conn.execute(sa.select(sa.func.count()).select_from(Job)
                                     .where(Job.id.in_(chunk), Job.state == "succeeded")).scalar_one()
            return done
    finally:
        engine.dispose()
