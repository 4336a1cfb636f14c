"""R2: a random worker process SIGKILLed again and again, during a seed and during a publish.

Two phases, each under its own kills: a seed of an institution (`python -m core seed`, the
seed_institution workflow) must write exactly the rows its plan says; then, with a class of the
seeded students grown to the publish's size through the roster import (setup, no kills), an
activity published to it must reach every student exactly once at SES and in the effects
table (D5: a kill can make no email go out twice), with one teacher summary; the emails a
killed run's retry reports unconfirmed must each be at SES exactly once too. 0 jobs left open after either.

The victim is a random gunicorn sync worker of the worker tier (the master's children, never the
master), busy or not, at a steady pace while the phase's work is open. One exception: a worker
whose job is on its job type's last attempt is spared (another is chosen), because a job killed
on every attempt is failed by design (docs/jobs.md; poison jobs are R4), not recovered."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import requests

from chaos import count
from chaos.result import Result
from chaos.scenarios.common import Form, now
from chaos.stack import ChaosStack
from core.jobs.types import JOB_TYPES
from core.seeding import TEACHER_PASSWORD, SeedPlan, seed_params
from devstack.run import ROOT
from worker.dead_workers import claimer_of

KILL_EVERY_S = 0.3  # a steady pace: faster than the tier respawns, so some victims are still booting
CLASS_SIZE = 200  # the seed's largest section; the roster import grows one class to the publish's size
PHASE_TIMEOUT_S = {False: 150, True: 900}


@dataclass
class Kills:
    done: int = 0
    hit: Counter[str] = field(default_factory=Counter)  # victims that held a running job, by its type
    spared: int = 0

    def note(self) -> str:
        return (f"{self.done} kills, {sum(self.hit.values())} of a worker holding a running job {dict(self.hit)}, "
                f"{self.spared} spared")


def _kill_one(stack: ChaosStack, kills: Kills, rng: random.Random) -> None:
    pids = stack.worker_pids()
    if not pids:
        return
    claims = count.running_claims(stack.engine)
    victims = []
    for pid in pids:
        attempts, type_name = claims.get(claimer_of(pid), (0, ""))
        if type_name and attempts >= JOB_TYPES[type_name].max_attempts:
            kills.spared += 1
            continue
        victims.append((pid, type_name))
    if not victims:
        return
    pid, type_name = rng.choice(victims)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    kills.done += 1
    if type_name:
        kills.hit[type_name] += 1


def _kill_while(stack: ChaosStack, kills: Kills, wanted: int, rng: random.Random, open_work,
                every: float = KILL_EVERY_S) -> None:
    """SIGKILL a random worker every `every` s until `wanted` kills or the work is done."""
    while kills.done < wanted and open_work():
        _kill_one(stack, kills, rng)
        time.sleep(every)


def _settle(stack: ChaosStack, since: datetime, timeout: float, done) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if done() and count.open_jobs_since(stack.engine, since) == 0:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def _expected_seed(plan: SeedPlan) -> Counter[str]:
    return Counter({
        "institutions": 1, "users:admin": 1, "users:teacher": plan.teachers,
        "users:student": plan.students, "classes": len(plan.classes), "enrollments": plan.enrollment_rows,
        "lessons": len(plan.classes) * plan.lessons_per_class, "attendance": plan.attendance_rows,
        "activities": len(plan.classes) * plan.activities_per_class, "grades": plan.grade_rows,
    })


def _seed_phase(stack: ChaosStack, result: Result, form: Form, slug: str, rng: random.Random) -> SeedPlan:
    # The short form's seed must outlast its kills on a quiet machine too: 300 students took 1.0 s
    # in one CI run, so only 3 of its 10 kills landed.
    students, wanted = form.pick((2000, 10), (2000, 50))
    params = seed_params({"name": f"Chaos {slug}", "slug": slug, "students": students, "class_size": CLASS_SIZE})
    since = now()
    command = [sys.executable, "-m", "core", "seed", "--slug", slug, "--name", params["name"],
               "--students", str(students), "--class-size", str(CLASS_SIZE)]
    started = subprocess.run(command, check=False, cwd=ROOT, env={**stack.env(), "APP_ROLE": "web"}, capture_output=True,
                             text=True, timeout=120)
    if started.returncode != 0:
        raise RuntimeError(f"python -m core seed failed: {started.stderr or started.stdout}")
    workflow = started.stdout.split("seed workflow ", 1)[1].split()[0]
    kills = Kills()
    seeding = lambda: count.workflow_state(stack.engine, workflow)[0] in ("running", "compensating")
    began = time.monotonic()
    # A seed of 2,000 takes under 2 s on a quiet machine: kills at a third of the pace land in it.
    _kill_while(stack, kills, wanted, rng, seeding, every=KILL_EVERY_S / 3)
    _settle(stack, since, PHASE_TIMEOUT_S[form.long], lambda: not seeding())
    state, error = count.workflow_state(stack.engine, workflow)
    plan = SeedPlan(params)
    expected, found = _expected_seed(plan), count.seed_rows(stack.engine, slug)
    wrong = {k: (found[k], n) for k, n in expected.items() if found[k] != n}
    result.notes.append(f"seed of {students} students: workflow {state} in {time.monotonic() - began:.1f} s; "
                        f"{kills.note()}; rows {dict(found)}; attempts {dict(count.attempts_since(stack.engine, since))}, "
                        f"ended {dict(count.attempt_outcomes(stack.engine, since))}")
    result.check(state == "succeeded", f"the seed workflow ended {state}: {error}")
    result.check(not wrong, f"seed rows (found, expected): {wrong}")
    result.check(kills.done == wanted, f"only {kills.done} of {wanted} kills landed before the seed finished")
    result.stuck += count.open_jobs_since(stack.engine, since)
    result.accepted += 1
    result.finished += state == "succeeded"
    result.lost += state != "succeeded"
    return plan


def _grow_class(stack: ChaosStack, plan: SeedPlan, teacher: dict[str, str], class_id: int, size: int) -> None:
    """Setup: the roster import (the app's own path) enrols the first `size` seeded students."""
    csv = "name,email\n" + "".join(f"{plan.student_name(i)},{plan.student_email(i)}\n" for i in range(size))
    response = requests.post(f"{stack.web}/api/classes/{class_id}/roster-imports", json={"csv": csv},
                             headers=teacher, timeout=60)
    response.raise_for_status()
    job = uuid.UUID(response.json()["job"]["id"])
    settled = count.wait_settled(stack.engine, {job}, 120)
    if settled.states.get(job) != "succeeded":
        raise RuntimeError(f"the roster import ended {settled.states.get(job)}")


def _publish_phase(stack: ChaosStack, result: Result, form: Form, plan: SeedPlan, rng: random.Random) -> None:
    recipients, wanted = form.pick((200, 10), (1000, 50))
    teacher = stack.login(plan.teacher_email(0), TEACHER_PASSWORD)
    class_id = _class_id(stack, plan)
    _grow_class(stack, plan, teacher, class_id, recipients)
    since = now()
    title = f"R2 publish {uuid.uuid4().hex[:6]}"
    response = requests.post(f"{stack.web}/api/classes/{class_id}/activities",
                             json={"title": title, "description": "chaos R2"}, headers=teacher, timeout=30)
    response.raise_for_status()
    activity = count.activity(stack.engine, response.json()["activity"]["id"])
    kills = Kills()
    began = time.monotonic()
    publishing = lambda: count.open_jobs_since(stack.engine, since) > 0
    time.sleep(0.2)  # the web tier's sender hands the fan-out to SQS
    _kill_while(stack, kills, wanted, rng, publishing)
    ended = time.monotonic()
    _settle(stack, since, PHASE_TIMEOUT_S[form.long], lambda: True)
    result.recover_s = time.monotonic() - ended
    mails = count.emails(stack.engine, stack.urls["moto"], stack.mailbox, [activity])
    result.notes.append(f"publish to {len(activity.students)} students: done in {time.monotonic() - began:.1f} s; "
                        f"{kills.note()}; jobs {dict(count.jobs_since(stack.engine, since))}; "
                        f"attempts {dict(count.attempts_since(stack.engine, since))}, "
                        f"ended {dict(count.attempt_outcomes(stack.engine, since))}")
    result.notes.append(f"emails expected {mails.expected}, at SES {mails.at_ses}, effects {mails.effects}, "
                        f"in mailbox {mails.in_mailbox}, summaries {mails.summaries}")
    result.check(len(activity.students) == recipients, f"the class has {len(activity.students)} students")
    result.check(mails.effects == mails.expected, f"{mails.effects} email effects for {mails.expected} emails")
    result.check(mails.summaries == 1, f"{mails.summaries} teacher summaries")
    result.check(kills.done == wanted, f"only {kills.done} of {wanted} kills landed before the publish finished")
    result.check(mails.duplicated == 0, f"{mails.duplicated} emails at SES more than once "
                                         f"({kills.hit['email_chunk']} chunks killed mid-send)")
    # An email a killed run noted but whose answer it never recorded is reported unconfirmed by
    # its retry and never sent again (worker/handlers/email.py): SES takes no idempotency key, so
    # a kill between the intent's commit and the request reaching SES leaves it unsent. That one
    # is reported, not silent: only a student neither at SES nor listed unconfirmed is lost.
    unconfirmed = _unconfirmed(stack, activity)
    at_ses = Counter({to: n for (to, subject), n in count.ses_sent(stack.urls["moto"]).items()
                      if subject.endswith(": " + activity.title)})
    once = sum(1 for to in unconfirmed if at_ses[to] == 1)
    reported_unsent = sum(1 for to in unconfirmed if at_ses[to] == 0)
    silently_missing = mails.missing - reported_unsent
    result.notes.append(f"unconfirmed {len(unconfirmed)} (at SES exactly once: {once}, not at SES: {reported_unsent})")
    result.check(mails.at_ses + reported_unsent == mails.expected,
                 f"{mails.at_ses} emails at SES and {reported_unsent} reported unsent for {mails.expected}")
    result.check(silently_missing == 0, f"{silently_missing} students never emailed and not reported")
    result.duplicated += mails.duplicated
    result.lost += silently_missing
    result.stuck += count.open_jobs_since(stack.engine, since)
    result.accepted += 1
    result.finished += silently_missing == 0 and mails.summaries == 1


def _unconfirmed(stack: ChaosStack, activity: count.Activity) -> list[str]:
    """The addresses of the activity's emails recorded as unconfirmed, or noted with no outcome."""
    import sqlalchemy as sa

    with stack.engine.connect() as conn:
        return list(conn.execute(sa.text(
            "SELECT u.email FROM effects e JOIN users u ON e.key = :prefix || u.id "
            "WHERE e.key LIKE :like AND (e.detail ->> 'unconfirmed' = 'true' OR e.detail ->> 'state' = 'sending')"),
            {"prefix": f"email:activity:{activity.id}:student:", "like": f"email:activity:{activity.id}:student:%"},
        ).scalars())


def _class_id(stack: ChaosStack, plan: SeedPlan) -> int:
    import sqlalchemy as sa

    with stack.engine.connect() as conn:
        return conn.execute(sa.text("SELECT c.id FROM classes c JOIN users u ON u.id = c.teacher_id "
                                    "WHERE u.email = :e ORDER BY c.id LIMIT 1"), {"e": plan.teacher_email(0)}).scalar_one()


def r2_worker_kills(stack: ChaosStack, form: Form) -> Result:
    """SIGKILL a random worker process (short 10, long 50 times) during a seed (300 / 2,000
    students) and during a publish (200 / 1,000 recipients): exact rows, every email once."""
    result = Result("R2", "SIGKILL random workers (seed, publish)")
    rng = random.Random()
    # The short form waits 5 s, not the deployed 30 s, before a killed delivery comes back (CI's time).
    stack.restart_sqsd(**form.pick({"SQSD_ERROR_VISIBILITY_TIMEOUT": "5"}, {}))
    try:
        plan = _seed_phase(stack, result, form, f"r2-{uuid.uuid4().hex[:6]}", rng)
        if result.failures:
            return result
        _publish_phase(stack, result, form, plan, rng)
    finally:
        stack.restart_sqsd()
    return result
