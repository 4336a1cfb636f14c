"""Workflows: each step its own job and transaction; a permanent failure runs the completed
steps' compensations newest first and ends the workflow `compensated`."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.jobs import workflows
from core.jobs.outbox import flush
from core.jobs.workflows import StepSpec, WorkflowSpec, start_workflow
from core.models import Job, Workflow
from tests import factories
from tests.sqsd import pump
from worker.errors import PermanentJobError
from worker.workflows import registry

TRIAL = WorkflowSpec("trial", "A test workflow", (
    StepSpec("a", "Step A"), StepSpec("b", "Step B", compensable=False), StepSpec("c", "Step C"), StepSpec("d", "Step D"),
))


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail_at: str | None = None
        self.fail_undo: str | None = None

    def step(self, name: str):
        def run(ctx, workflow):
            self.calls.append(name)
            if name == self.fail_at:
                raise PermanentJobError(f"{name} cannot be done")
            return {"made": name, "seen": sorted(workflow.context)}
        return run

    def undo(self, name: str):
        def run(ctx, workflow):
            self.calls.append("undo:" + name)
            if name == self.fail_undo:
                raise PermanentJobError(f"undoing {name} is impossible")
            return {}
        return run


@pytest.fixture
def trial(monkeypatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setitem(workflows.WORKFLOWS, TRIAL.name, TRIAL)
    monkeypatch.setitem(registry.STEPS, TRIAL.name, {s.name: recorder.step(s.name) for s in TRIAL.steps})
    monkeypatch.setitem(registry.COMPENSATIONS, TRIAL.name,
                        {s.name: recorder.undo(s.name) for s in TRIAL.steps if s.compensable})
    return recorder


def _run(worker_app, worker_client, db, sqs, aws, owner_id=None) -> Workflow:
    workflow = start_workflow(db, TRIAL.name, {"size": 1}, owner_id)
    db.commit()
    flush(db, worker_app.extensions["aula"].queue)
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=30)
    db.expire_all()
    return db.get(Workflow, workflow.id)


def test_steps_run_in_order_each_seeing_what_earlier_steps_left(worker_app, worker_client, db, sqs, aws, trial):
    workflow = _run(worker_app, worker_client, db, sqs, aws)
    assert workflow.state == "succeeded" and workflow.finished_at is not None
    assert trial.calls == ["a", "b", "c", "d"]
    assert workflow.context["d"] == {"made": "d", "seen": ["a", "b", "c"]}
    steps = db.scalars(sa.select(Job).where(Job.workflow_id == workflow.id).order_by(Job.created_at)).all()
    assert [(j.step, j.state) for j in steps] == [("a", "succeeded"), ("b", "succeeded"), ("c", "succeeded"),
                                                  ("d", "succeeded")]


def test_a_permanent_failure_compensates_completed_steps_newest_first(worker_app, worker_client, db, sqs, aws, trial):
    trial.fail_at = "d"
    workflow = _run(worker_app, worker_client, db, sqs, aws)
    # b has no compensation; c and a are undone, newest first; d never completed.
    assert trial.calls == ["a", "b", "c", "d", "undo:c", "undo:a"]
    assert workflow.state == "compensated"
    assert "step 'd' failed: d cannot be done" in workflow.error


def test_a_failing_first_step_leaves_nothing_to_undo(worker_app, worker_client, db, sqs, aws, trial):
    trial.fail_at = "a"
    workflow = _run(worker_app, worker_client, db, sqs, aws)
    assert trial.calls == ["a"] and workflow.state == "compensated"


def test_a_failing_compensation_stops_and_leaves_the_workflow_failed(worker_app, worker_client, db, sqs, aws, trial):
    trial.fail_at, trial.fail_undo = "d", "c"
    workflow = _run(worker_app, worker_client, db, sqs, aws)
    assert trial.calls == ["a", "b", "c", "d", "undo:c"]
    assert workflow.state == "failed" and "needs an operator" in workflow.error


def test_the_workflow_api_shows_steps_to_the_owner_and_admins_only(
    worker_app, worker_client, client, db, sqs, aws, trial
):
    school = factories.institution(db)
    owner = factories.user(db, school, "admin")
    colleague_admin = factories.user(db, school, "admin")
    teacher = factories.user(db, school, "teacher")
    stranger_admin = factories.user(db, factories.institution(db), "admin")
    db.commit()
    trial.fail_at = "c"
    workflow = _run(worker_app, worker_client, db, sqs, aws, owner_id=owner.id)
    url = f"/api/workflows/{workflow.id}"
    shown = client.get(url, headers=factories.login(client, owner))
    assert shown.status_code == 200 and "Retry-After" not in shown.headers
    body = shown.get_json()["workflow"]
    assert body["state"] == "compensated"
    assert [(s["name"], s["state"], (s["compensation"] or {}).get("state")) for s in body["steps"]] == [
        ("a", "succeeded", "succeeded"), ("b", "succeeded", None), ("c", "failed", None), ("d", "pending", None)]
    assert client.get(url, headers=factories.login(client, colleague_admin)).status_code == 200
    for outsider in (teacher, stranger_admin):
        assert client.get(url, headers=factories.login(client, outsider)).status_code == 404
    assert client.get("/api/workflows/not-a-uuid", headers=factories.login(client, owner)).status_code == 404
