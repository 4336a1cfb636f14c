"""Workflows: ordered steps, each its own job and its own transaction (a saga).

A step's success enqueues the next step in the same transaction. A step that ends failed or
cancelled starts the compensations of the steps that completed before it, newest first, each
again its own job; when the last one is done the workflow is `compensated`. A compensation
that itself fails leaves the workflow `failed` for an operator, with the reason.

The specs (names, order, which steps can be undone) live here so the web tier can start and
show workflows; the worker implements each step and compensation.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.outbox import new_job
from core.models import Job, Workflow

STEP_JOB_TYPE = "workflow_step"
UNDO = "undo:"


@dataclass(frozen=True)
class StepSpec:
    name: str
    title: str
    compensable: bool = True


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    title: str
    steps: tuple[StepSpec, ...]

    def index(self, step: str) -> int:
        return [s.name for s in self.steps].index(step)


SEED_INSTITUTION = WorkflowSpec(
    "seed_institution",
    "Seed an institution with demo data",
    (
        StepSpec("institution", "Institution and staff"),
        StepSpec("people", "Teachers and students"),
        StepSpec("classes", "Classes"),
        StepSpec("enrollments", "Enrollments"),
        StepSpec("lessons", "Lessons and attendance"),
        StepSpec("grades", "Activities and grades"),
    ),
)

WORKFLOWS: dict[str, WorkflowSpec] = {w.name: w for w in (SEED_INSTITUTION,)}


def _enqueue_step(session: Session, workflow: Workflow, step: str) -> Job:
    return new_job(
        session,
        STEP_JOB_TYPE,
        {"workflow": workflow.name, "step": step},
        owner_id=workflow.owner_id,
        workflow_id=workflow.id,
        step=step,
    )


def start_workflow(session: Session, name: str, params: dict[str, Any], owner_id: int | None) -> Workflow:
    spec = WORKFLOWS[name]
    workflow = Workflow(id=uuid.uuid4(), name=name, owner_id=owner_id, state="running", params=params, context={})
    session.add(workflow)
    session.flush()
    _enqueue_step(session, workflow, spec.steps[0].name)
    return workflow


def step_finished(
    session: Session, workflow_id: uuid.UUID, step: str, state: str, result: dict[str, Any], error: str | None,
    now: datetime,
) -> None:
    """Called in the transaction that made a step's job terminal."""
    # Row lock: a workflow moves one step at a time even if a stray duplicate races it.
    workflow = session.scalars(sa.select(Workflow).where(Workflow.id == workflow_id).with_for_update()).one()
    spec = WORKFLOWS[workflow.name]
    if step.startswith(UNDO):
        _compensation_finished(session, workflow, spec, step[len(UNDO):], state, error, now)
    elif workflow.state == "running":
        _step_finished(session, workflow, spec, step, state, result, error, now)


def _step_finished(
    session: Session, workflow: Workflow, spec: WorkflowSpec, step: str, state: str, result: dict[str, Any],
    error: str | None, now: datetime,
) -> None:
    if state == "succeeded" and step in workflow.context:
        return  # a stray duplicate of a step that already moved the workflow on
    index = spec.index(step)
    if state == "succeeded":
        workflow.context = {**workflow.context, step: result}
        if index + 1 < len(spec.steps):
            _enqueue_step(session, workflow, spec.steps[index + 1].name)
        else:
            workflow.state, workflow.finished_at = "succeeded", now
        return
    workflow.state = "compensating"
    workflow.error = f"step '{step}' {state}: {error or 'no reason given'}"
    _next_compensation(session, workflow, spec, before=index, now=now)


def _compensation_finished(
    session: Session, workflow: Workflow, spec: WorkflowSpec, step: str, state: str, error: str | None, now: datetime,
) -> None:
    if workflow.state != "compensating":
        return
    if state != "succeeded":
        workflow.state, workflow.finished_at = "failed", now
        workflow.error = f"{workflow.error}; undoing '{step}' {state}: {error or 'no reason given'} (needs an operator)"
        return
    _next_compensation(session, workflow, spec, before=spec.index(step), now=now)


def _next_compensation(session: Session, workflow: Workflow, spec: WorkflowSpec, before: int, now: datetime) -> None:
    for earlier in reversed(spec.steps[:before]):
        if earlier.compensable:
            _enqueue_step(session, workflow, UNDO + earlier.name)
            return
    workflow.state, workflow.finished_at = "compensated", now
