"""Counting at the source of truth, never from the app's own answers: the jobs and effects
tables, the SES stand-in (moto's record of every SendEmail it accepted), the local mailbox
(MAIL_MAILBOX_DIR: one .eml per email the worker saw accepted) and the S3 bucket."""
from __future__ import annotations

import email
import email.header
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import requests
import sqlalchemy as sa

TERMINAL = ("succeeded", "failed", "cancelled")


def _uuid_list(ids: Iterable[uuid.UUID]) -> list[str]:
    return [str(i) for i in ids]


def job_states(engine: sa.Engine, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    ids = list(ids)
    states: dict[uuid.UUID, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = conn.execute(sa.text("SELECT id, state FROM jobs WHERE id = ANY(CAST(:ids AS uuid[]))"),
                                {"ids": _uuid_list(chunk)}).all()
            states.update({uuid.UUID(str(r.id)): r.state for r in rows})
    return states


def open_jobs_since(engine: sa.Engine, since: datetime) -> int:
    """Jobs created since `since` that are not finished: with the load stopped and the stack
    recovered, each is a stuck job."""
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM jobs WHERE created_at >= :since AND state NOT IN "
                                    "('succeeded', 'failed', 'cancelled')"), {"since": since}).scalar_one()


def last_finished(engine: sa.Engine, since: datetime) -> datetime:
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT max(finished_at) FROM jobs WHERE created_at >= :since"),
                             {"since": since}).scalar_one()
    if found is None:
        return since
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def jobs_since(engine: sa.Engine, since: datetime) -> Counter[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT state, count(*) AS n FROM jobs WHERE created_at >= :since GROUP BY state"),
                            {"since": since}).all()
    return Counter({r.state: r.n for r in rows})


@dataclass(frozen=True)
class Settled:
    states: dict[uuid.UUID, str]
    seconds: float  # from the call to the moment all were finished (or the deadline)

    @property
    def finished(self) -> int:
        return sum(1 for s in self.states.values() if s == "succeeded")

    def lost(self, accepted: set[uuid.UUID]) -> int:
        """Accepted but never done: no row at all, or ended without doing the work."""
        return sum(1 for i in accepted if self.states.get(i) in (None, "failed", "cancelled"))

    @property
    def stuck(self) -> int:
        return sum(1 for s in self.states.values() if s not in TERMINAL)


def wait_settled(engine: sa.Engine, ids: set[uuid.UUID], timeout: float, *, since: datetime | None = None) -> Settled:
    """Wait until every job in `ids` (and, with `since`, every job created since then: the
    children the accepted jobs made) is finished, or `timeout` seconds pass."""
    started = time.monotonic()
    while True:
        states = job_states(engine, ids)
        done = len(states) == len(ids) and all(s in TERMINAL for s in states.values())
        if done and since is not None:
            done = open_jobs_since(engine, since) == 0
        if done or time.monotonic() - started >= timeout:
            return Settled(states, time.monotonic() - started)
        time.sleep(0.5)


# -- emails ------------------------------------------------------------------------------------
def ses_sent(moto_url: str) -> Counter[tuple[str, str]]:
    """Every email moto's SES accepted, by (recipient, subject)."""
    data = requests.get(moto_url + "/moto-api/data.json", timeout=60).json()
    found: Counter[tuple[str, str]] = Counter()
    for message in data.get("ses", {}).get("Message", []) or []:
        for to in (message.get("destinations") or {}).get("ToAddresses", []):
            found[(to, message.get("subject") or "")] += 1
    return found


def mailbox(directory: Path) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    if not directory.exists():
        return found
    for path in directory.glob("*.eml"):
        with open(path, "rb") as handle:
            message = email.message_from_binary_file(handle)
        subject = str(email.header.make_header(email.header.decode_header(message["Subject"] or "")))
        found[(message["To"] or "", subject)] += 1
    return found


@dataclass(frozen=True)
class Activity:
    id: int
    title: str
    students: frozenset[str]


def activity(engine: sa.Engine, activity_id: int) -> Activity:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT title, class_id FROM activities WHERE id = :a"), {"a": activity_id}).one()
        students = conn.execute(sa.text("SELECT u.email FROM enrollments e JOIN users u ON u.id = e.student_id "
                                        "WHERE e.class_id = :c"), {"c": row.class_id}).scalars().all()
    return Activity(activity_id, row.title, frozenset(students))


@dataclass(frozen=True)
class EmailCount:
    expected: int
    at_ses: int
    effects: int
    in_mailbox: int
    duplicated: int  # extra copies of an email at SES
    missing: int  # expected emails SES never got
    summaries: int  # teacher summaries (one per activity expected)


def emails(engine: sa.Engine, moto_url: str, mailbox_dir: Path, activities: Iterable[Activity]) -> EmailCount:
    activities = list(activities)
    ses, box = ses_sent(moto_url), mailbox(mailbox_dir)
    expected = at_ses = in_box = duplicated = missing = effects = summaries = 0
    with engine.connect() as conn:
        for act in activities:
            mine_ses = Counter({to: n for (to, subject), n in ses.items() if subject.endswith(": " + act.title)})
            mine_box = Counter({to: n for (to, subject), n in box.items() if subject.endswith(": " + act.title)})
            expected += len(act.students)
            at_ses += sum(mine_ses.values())
            in_box += sum(mine_box.values())
            # At SES: the mailbox is written only after SES answered, so it never holds more copies.
            duplicated += sum(n - 1 for n in mine_ses.values() if n > 1)
            missing += sum(1 for to in act.students if mine_ses[to] == 0)
            effects += conn.execute(sa.text("SELECT count(*) FROM effects WHERE key LIKE :k"),
                                    {"k": f"email:activity:{act.id}:student:%"}).scalar_one()
            summaries += conn.execute(sa.text("SELECT count(*) FROM notifications WHERE dedupe_key = :k"),
                                      {"k": f"activity-summary:{act.id}"}).scalar_one()
    return EmailCount(expected, at_ses, effects, in_box, duplicated, missing, summaries)


# -- reports -----------------------------------------------------------------------------------
def report_files(env: dict[str, str]) -> Counter[str]:
    """Objects under reports/ in the bucket, by job id (one file per finished report)."""
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    found: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env["S3_BUCKET"], Prefix="reports/"):
        for item in page.get("Contents", []):
            found[item["Key"].split("/")[1]] += 1
    return found


def report_jobs(engine: sa.Engine, ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(ids)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id FROM jobs WHERE type = 'report' AND id = ANY(CAST(:ids AS uuid[]))"),
                            {"ids": _uuid_list(ids)}).scalars().all()
    return {uuid.UUID(str(r)) for r in rows}


# -- seeds -------------------------------------------------------------------------------------
def seed_rows(engine: sa.Engine, slug: str) -> Counter[str]:
    """The rows a seed wrote for the institution `slug`, table by table (users by role)."""
    queries = {
        "classes": "SELECT count(*) FROM classes c WHERE c.institution_id = :i",
        "enrollments": "SELECT count(*) FROM enrollments e JOIN classes c ON c.id = e.class_id WHERE c.institution_id = :i",
        "lessons": "SELECT count(*) FROM lessons l JOIN classes c ON c.id = l.class_id WHERE c.institution_id = :i",
        "attendance": "SELECT count(*) FROM attendance a JOIN lessons l ON l.id = a.lesson_id "
                      "JOIN classes c ON c.id = l.class_id WHERE c.institution_id = :i",
        "activities": "SELECT count(*) FROM activities a JOIN classes c ON c.id = a.class_id WHERE c.institution_id = :i",
        "grades": "SELECT count(*) FROM grades g JOIN activities a ON a.id = g.activity_id "
                  "JOIN classes c ON c.id = a.class_id WHERE c.institution_id = :i",
    }
    found: Counter[str] = Counter()
    with engine.connect() as conn:
        institution = conn.execute(sa.text("SELECT id FROM institutions WHERE slug = :s"), {"s": slug}).scalar()
        if institution is None:
            return found
        found["institutions"] = 1
        for role, n in conn.execute(sa.text("SELECT role, count(*) FROM users WHERE institution_id = :i GROUP BY role"),
                                    {"i": institution}).all():
            found[f"users:{role}"] = n
        for name, query in queries.items():
            found[name] = conn.execute(sa.text(query), {"i": institution}).scalar_one()
    return found


def workflow_state(engine: sa.Engine, workflow_id: str) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT state, error FROM workflows WHERE id = CAST(:w AS uuid)"),
                           {"w": workflow_id}).one()
    return row.state, row.error


def running_claims(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    """Running jobs by the process that claimed them (jobs.claimed_by, "host/pid"): each one's
    attempts and type."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT claimed_by, attempts, type FROM jobs WHERE state = 'running'")).all()
    return {r.claimed_by: (r.attempts, r.type) for r in rows if r.claimed_by}


def attempts_since(engine: sa.Engine, since: datetime) -> Counter[int]:
    """Jobs created since `since`, by how many attempts they took."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT attempts, count(*) AS n FROM jobs WHERE created_at >= :s GROUP BY attempts"),
                            {"s": since}).all()
    return Counter({r.attempts: r.n for r in rows})


def attempt_outcomes(engine: sa.Engine, since: datetime) -> Counter[str]:
    """How the attempts of the jobs created since `since` ended (the attempt history, kept by
    triggers on PostgreSQL): `lease_expired` is a run that died or lost its lease."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT coalesce(a.outcome, 'open') AS outcome, count(*) AS n FROM job_attempts a "
                                    "JOIN jobs j ON j.id = a.job_id WHERE j.created_at >= :s GROUP BY 1"),
                            {"s": since}).all()
    return Counter({r.outcome: r.n for r in rows})
