"""The console's periodic tasks: each task core/jobs/periodic.py declares, with its cron.yaml
schedule (UTC), its next run, its latest runs (core.jobs.periodic_runs) and its lease; and the
operators' "run now", a `periodic_run` job the worker runs through the task's lease.

cron.yaml ships at the root of the bundle both tiers deploy; infra/ebconfig.py, which validates it
for deployment, is not deployed, so the schedules are read here, once per process.
"""
from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from croniter import croniter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.app import Services
from core.jobs import periodic_runs
from core.jobs.outbox import commit_and_send, dedupe_key, new_job
from core.jobs.periodic import PERIODIC_TASKS
from core.jobs.types import PERIODIC_RUN, PeriodicRunPayload
from core.models import Job, TaskLease, User
from core.models.jobs import OPEN_DEDUPE
from core.models.ops import PeriodicRun
from web.common.dates import iso
from web.common.ops.access import is_operator, operator_only
from web.common.ops.audit import record
from web.common.refusal import Refusal

CRON_YAML = Path(__file__).resolve().parents[3] / "cron.yaml"
RECENT_RUNS = 5


@lru_cache(maxsize=1)
def schedules(path: Path = CRON_YAML) -> dict[str, str]:
    """{task name: five-field cron schedule} from cron.yaml; {} when it is absent or unreadable
    (the deploy checks refuse such a file, so the page says "not scheduled" rather than fail)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    entries = document.get("cron") if isinstance(document, dict) else None
    found: dict[str, str] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("schedule"), str):
            schedule = entry["schedule"].strip()
            if len(schedule.split()) == 5 and croniter.is_valid(schedule):
                found[entry["name"].strip()] = schedule
    return found


def next_run(schedule: str | None, now: datetime) -> datetime | None:
    if schedule is None:
        return None
    return croniter(schedule, now.astimezone(UTC)).get_next(datetime)


def _duration_ms(run: PeriodicRun) -> int | None:
    if run.finished_at is None:
        return None
    return int((run.finished_at - run.started_at).total_seconds() * 1000)


def _outcome(run: PeriodicRun, lease: dict[str, Any]) -> str:
    """A run without an end is running while its holder still has the lease; otherwise its
    process died before recording one (killed, instance gone): lost."""
    if run.outcome is not None:
        return run.outcome
    return "running" if lease["held"] and lease["holder"] == run.holder else "lost"


def run_json(run: PeriodicRun, lease: dict[str, Any], operator: bool) -> dict[str, Any]:
    """A run as the console shows it. Admins get what and when, not the platform's insides (the
    holder's host and process, the counts of every institution's work, error texts)."""
    return {"id": run.id, "trigger": run.trigger, "requested_by": run.requested_by if operator else None,
            "holder": run.holder if operator else None, "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at), "duration_ms": _duration_ms(run), "outcome": _outcome(run, lease),
            "counts": run.counts if operator else None,
            "error": run.error if operator or run.error is None else "failed (the details are for operators)"}


def _lease_json(lease: TaskLease | None, now: datetime) -> dict[str, Any]:
    held = lease is not None and lease.expires_at is not None and lease.expires_at > now
    return {"held": held, "holder": lease.holder if held else None,
            "expires_at": iso(lease.expires_at) if held else None}


def _open_run_job(session: Session, task: str) -> Job | None:
    return session.scalar(sa.select(Job).where(Job.dedupe_key == _run_key(task), sa.text(OPEN_DEDUPE)))


def task_json(session: Session, name: str, now: datetime, leases: dict[str, TaskLease], operator: bool,
              runs: int = RECENT_RUNS) -> dict[str, Any]:
    declaration = PERIODIC_TASKS[name]
    schedule = schedules().get(name)
    recent = periodic_runs.latest(session, name, runs)
    # The latest run that did something: a skipped one says only that another held the lease.
    last = next((r for r in recent if r.outcome != "skipped"), recent[0] if recent else None)
    queued = _open_run_job(session, name)
    lease = _lease_json(leases.get(name), now)
    shown_lease = lease if operator else {**lease, "holder": None}
    return {
        "name": name, "label": declaration.label, "schedule": schedule, "next_run_at": iso(next_run(schedule, now)),
        "lease_seconds": int(declaration.lease.total_seconds()), "lease": shown_lease,
        "last_run": run_json(last, lease, operator) if last is not None else None,
        "recent_runs": [run_json(r, lease, operator) for r in recent],
        "run_now_job": None if queued is None or not operator else {
            "id": str(queued.id), "state": queued.state, "url": f"/ops/jobs/{queued.id}"},
    }


def tasks_json(session: Session, user: User, now: datetime) -> dict[str, Any]:
    """Every declared task (a handful: a few indexed rows each)."""
    leases = {lease.name: lease for lease in session.scalars(
        sa.select(TaskLease).where(TaskLease.name.in_(list(PERIODIC_TASKS))))}
    # No clock reading in the body: its hash is the polled ETag, which must change only with the tasks.
    return {"items": [task_json(session, name, now, leases, is_operator(user)) for name in PERIODIC_TASKS],
            "can_run": is_operator(user)}


def one_task(session: Session, user: User, name: str, now: datetime, runs: int = 20) -> dict[str, Any]:
    known(name)
    leases = {name: lease} if (lease := session.get(TaskLease, name)) is not None else {}
    return task_json(session, name, now, leases, is_operator(user), runs)


def known(name: str) -> str:
    if name not in PERIODIC_TASKS:
        raise Refusal(404, "no periodic task by that name")
    return name


def _run_key(task: str) -> str:
    # Keyed by the task alone (no owner): a second "run now" by anyone joins the open one.
    return dedupe_key(PERIODIC_RUN.name, None, {"task": task})


def run_now(session: Session, services: Services, user: User, name: str) -> tuple[Job, bool]:
    """The open `periodic_run` job of task `name`, or a new one; (job, created). Audited."""
    operator_only(user, "run a periodic task now")
    known(name)
    for _round in range(2):
        existing = _open_run_job(session, name)
        if existing is not None:
            record(session, user, "periodic.run_now", f"task:{name}", 0, job_id=str(existing.id), coalesced=True)
            session.commit()
            return existing, False
        job = new_job(session, PERIODIC_RUN, PeriodicRunPayload(task=name), owner_id=user.id, origin="periodic")
        job.dedupe_key = _run_key(name)
        record(session, user, "periodic.run_now", f"task:{name}", 1, job_id=str(job.id), coalesced=False)
        try:
            session.flush()
        except IntegrityError:  # another "run now" committed its job between the read and this insert
            session.rollback()
            continue
        commit_and_send(session, services.queue)
        return job, True
    raise Refusal(409, "another run of this task was being requested at the same moment; try again")
