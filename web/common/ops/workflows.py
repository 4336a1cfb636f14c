"""The console's workflows: the list (newest first, by cursor) and one workflow with each step's
job and timings, the compensations that ran and how they ended, and its parameters with every
secret redacted (the seed's initial password hash, any token or key).

Scope as for jobs: operators every workflow, an admin those of their institution's users."""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.workflows import UNDO, WORKFLOWS, StepSpec
from core.models import Job, User, Workflow
from core.models.orchestration import UNFINISHED_WORKFLOW_STATES, WORKFLOW_STATES
from web.common.access import as_uuid
from web.common.dates import iso
from web.common.ops.access import jobs_in_scope
from web.common.ops.batches import job_brief, of_institution, owned_in_scope, people, person
from web.common.ops.batches_filters import choice, identifier, word
from web.common.pagination import Keyset, Page, PageRequest, paginate

#: The list: newest first, ties by id.
WORKFLOW_LIST = Keyset(((Workflow.created_at, True), (Workflow.id, False)))
NAME_MAX = 64
REDACTED = "[redacted]"
# A parameter whose name says it holds a secret is shown as REDACTED, at any depth.
SENSITIVE = re.compile(r"pass|secret|token|hash|key|credential|otp|salt", re.IGNORECASE)


def redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if SENSITIVE.search(str(k)) else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def workflow_filters(args: Mapping[str, str], form: bool = False) -> dict[str, Any]:
    return {"state": choice(args, "state", WORKFLOW_STATES, form), "name": word(args, "name", NAME_MAX, form),
            "owner": identifier(args, "owner", form), "institution": identifier(args, "institution", form)}


def workflows(user: User, state: str | None = None, name: str | None = None, owner: int | None = None,
              institution: int | None = None) -> sa.Select:
    query = sa.select(Workflow).where(owned_in_scope(user, Workflow.owner_id))
    if state is not None:
        query = query.where(Workflow.state == state)
    if name is not None:
        query = query.where(Workflow.name == name)
    if owner is not None:
        query = query.where(Workflow.owner_id == owner)
    if institution is not None:
        query = query.where(of_institution(Workflow.owner_id, institution))
    return query.order_by(*WORKFLOW_LIST.ordered(forward=True))


def visible_workflow(session: Session, user: User, workflow_id: str) -> Workflow | None:
    key = as_uuid(workflow_id)
    if key is None:
        return None
    return session.scalar(sa.select(Workflow).where(Workflow.id == key, owned_in_scope(user, Workflow.owner_id)))


def is_finished(workflow: Workflow) -> bool:
    return workflow.state not in UNFINISHED_WORKFLOW_STATES


def _ms(start: datetime | None, end: datetime | None) -> int | None:
    return None if start is None or end is None else max(0, round((end - start).total_seconds() * 1000))


def _title(workflow: Workflow) -> str:
    spec = WORKFLOWS.get(workflow.name)
    return spec.title if spec else workflow.name


def _steps_of(workflow: Workflow) -> tuple[StepSpec, ...]:
    spec = WORKFLOWS.get(workflow.name)
    return spec.steps if spec else ()


def workflow_summary(workflow: Workflow, owner: User | None, viewer: User) -> dict[str, Any]:
    steps = _steps_of(workflow)
    done = sum(1 for s in steps if s.name in (workflow.context or {}))
    return {
        "id": str(workflow.id),
        "name": workflow.name,
        "title": _title(workflow),
        "state": workflow.state,
        "error": workflow.error,
        "owner": person(owner, viewer),
        "steps_total": len(steps),
        "steps_done": done,
        "created_at": iso(workflow.created_at),
        "finished_at": iso(workflow.finished_at),
        "duration_ms": _ms(workflow.created_at, workflow.finished_at),
        "url": f"/api/ops/workflows/{workflow.id}",
    }


def workflow_page_items(session: Session, page: Page[Workflow], viewer: User) -> list[dict[str, Any]]:
    owners = people(session, (w.owner_id for w in page.items))
    return [workflow_summary(w, owners.get(w.owner_id), viewer) for w in page.items]


def _run(job: Job | None) -> dict[str, Any] | None:
    """A step's (or compensation's) job with its timings as the job row keeps them: started_at is
    its latest attempt's start, so after a retry the queue wait includes the earlier attempts."""
    brief = job_brief(job)
    if job is None or brief is None:
        return None
    brief["duration_ms"] = _ms(job.started_at, job.finished_at)
    brief["queue_wait_ms"] = _ms(job.created_at, job.started_at)
    return brief


def workflow_detail(session: Session, workflow: Workflow, viewer: User) -> dict[str, Any]:
    """GET /api/ops/workflows/<id>: the workflow, each step in the spec's order with the job that
    ran it (the newest when a step ever ran twice, as the admin's page shows it) and its
    compensation, and the compensations in the order they ran."""
    jobs = list(session.scalars(sa.select(Job).where(Job.workflow_id == workflow.id, jobs_in_scope(viewer))
                                .order_by(Job.created_at, Job.id)))
    latest = {job.step: job for job in jobs}
    runs: dict[str | None, int] = {}
    for job in jobs:
        runs[job.step] = runs.get(job.step, 0) + 1
    steps = []
    for spec in _steps_of(workflow):
        job, undo = latest.get(spec.name), latest.get(UNDO + spec.name)
        steps.append({
            "name": spec.name, "title": spec.title, "compensable": spec.compensable,
            "state": job.state if job else "pending",
            "started_at": iso(job.started_at) if job else None,
            "finished_at": iso(job.finished_at) if job else None,
            "duration_ms": _ms(job.started_at, job.finished_at) if job else None,
            "runs": runs.get(spec.name, 0),
            "job": _run(job),
            "compensation": _run(undo),
        })
    titles = {s.name: s.title for s in _steps_of(workflow)}
    compensations = [{"step": job.step.removeprefix(UNDO), "title": titles.get(job.step.removeprefix(UNDO)),
                      "state": job.state, "job": _run(job)}
                     for job in jobs if job.step and job.step.startswith(UNDO)]
    owner = people(session, (workflow.owner_id,)).get(workflow.owner_id) if workflow.owner_id else None
    return {**workflow_summary(workflow, owner, viewer), "params": redacted(workflow.params or {}),
            "steps": steps, "compensations": compensations}


def workflows_listed(session: Session, viewer: User, args: Mapping[str, str],
                     form: bool = False) -> tuple[dict[str, Any], Page[Workflow], list[dict[str, Any]]]:
    """The list as GET /api/ops/workflows and /ops/workflows show it: (filters, page, rows). `form`:
    the page's GET form, whose empty values mean any (the API refuses them)."""
    filters = workflow_filters(args, form)
    page = paginate(session, workflows(viewer, **filters), PageRequest.from_args(args), keyset=WORKFLOW_LIST)
    return filters, page, workflow_page_items(session, page, viewer)
