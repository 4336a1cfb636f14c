"""The worker refuses to start unless every declared workflow step, compensation and periodic
task has its implementation, and nothing is implemented that is not declared
(worker/registries.py); registering against a declaration that does not exist fails at import."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.jobs import periodic, workflows
from core.jobs.periodic import RELAY_OUTBOX, PeriodicTaskType
from core.jobs.workflows import SEED_INSTITUTION, StepSpec, WorkflowSpec
from tests.conftest import make_settings
from worker import create_app, registries, tasks
from worker.workflows import load, registry

ROOT = Path(__file__).resolve().parents[2]
TRIAL = WorkflowSpec("trial", "A test workflow", (StepSpec("a", "Step A"), StepSpec("b", "Step B", compensable=False)))


def noop(ctx, workflow):
    return {}


@pytest.fixture
def start_worker(database_url, aws):
    def start():
        app = create_app(make_settings("worker", database_url, aws))
        app.extensions["aula"].db.dispose()
        return app

    return start


def test_the_worker_starts_when_every_declaration_has_its_implementation(start_worker):
    assert registries.problems() == []
    start_worker()


def test_a_declared_step_without_implementation_or_compensation_stops_the_worker(start_worker, monkeypatch):
    monkeypatch.setitem(workflows.WORKFLOWS, TRIAL.name, TRIAL)
    monkeypatch.setitem(registry.STEPS, TRIAL.name, {"a": noop})
    with pytest.raises(RuntimeError) as refused:
        start_worker()
    message = str(refused.value)
    assert message.startswith("the worker cannot start:")
    assert "step 'b' of workflow 'trial' is declared in core/jobs/workflows.py but has no implementation" in message
    assert "step 'a' of workflow 'trial' is declared compensable but has no compensation" in message
    assert "step 'a' of workflow 'trial' is declared in" not in message  # it has one
    assert "'b' of workflow 'trial' is declared compensable" not in message  # it is not


def test_a_step_function_for_an_undeclared_step_or_workflow_stops_the_worker(start_worker, monkeypatch):
    load()
    monkeypatch.setitem(registry.STEPS[SEED_INSTITUTION.name], "extra", noop)
    monkeypatch.setitem(registry.COMPENSATIONS, "ghost", {"x": noop})
    with pytest.raises(RuntimeError) as refused:
        start_worker()
    message = str(refused.value)
    assert (f"step {__name__}.noop is registered for 'extra' of workflow 'seed_institution', which "
            "core/jobs/workflows.py does not declare as a step") in message
    assert (f"compensation {__name__}.noop is registered for workflow 'ghost', which core/jobs/workflows.py "
            "does not declare") in message


def test_registering_an_undeclared_step_a_duplicate_or_an_undo_of_a_step_without_one_fails_at_once():
    load()
    before = (dict(registry.STEPS[SEED_INSTITUTION.name]), dict(registry.COMPENSATIONS[SEED_INSTITUTION.name]))
    with pytest.raises(RuntimeError, match="step 'nope' of workflow 'seed_institution'.*declares only institution"):
        registry.step(SEED_INSTITUTION, "nope")
    with pytest.raises(RuntimeError, match="compensation for step 'nope'"):
        registry.compensation(SEED_INSTITUTION, "nope")
    with pytest.raises(RuntimeError, match="step 'people' of workflow 'seed_institution' has two steps: "
                                           r"worker\.workflows\.seed\.steps\.people and .*noop"):
        registry.step(SEED_INSTITUTION, "people")(noop)
    with pytest.raises(RuntimeError, match="has two compensations: worker.workflows.seed.compensations.undo_people"):
        registry.compensation(SEED_INSTITUTION, "people")(noop)
    with pytest.raises(RuntimeError, match="declares step 'b' not compensable"):
        registry.compensation(TRIAL, "b")
    assert (registry.STEPS[SEED_INSTITUTION.name], registry.COMPENSATIONS[SEED_INSTITUTION.name]) == before
    assert "trial" not in registry.STEPS and "trial" not in registry.COMPENSATIONS


def test_a_declared_periodic_task_without_implementation_stops_the_worker(start_worker, monkeypatch):
    monkeypatch.setitem(periodic.PERIODIC_TASKS, "ghost-task", PeriodicTaskType("ghost-task", "Not implemented"))
    with pytest.raises(RuntimeError, match="periodic task 'ghost-task' is declared in core/jobs/periodic.py but has "
                                           "no implementation"):
        start_worker()


def test_a_periodic_task_that_is_not_declared_stops_the_worker(start_worker, monkeypatch):
    stray = PeriodicTaskType("stray-task", "Not declared")
    monkeypatch.setitem(tasks.TASKS, stray.name, tasks.PeriodicTask(stray, lambda services: {}))
    with pytest.raises(RuntimeError, match="is registered as 'stray-task', which core/jobs/periodic.py does not "
                                           "declare"):
        start_worker()


def test_registering_an_undeclared_or_second_periodic_task_fails_at_once():
    before = dict(tasks.TASKS)
    with pytest.raises(RuntimeError, match="cannot register periodic task 'stray-task'"):
        tasks.periodic(PeriodicTaskType("stray-task", "Not declared"))
    # A copy of a declaration is not the declaration.
    with pytest.raises(RuntimeError, match="cannot register periodic task 'relay-outbox'"):
        tasks.periodic(PeriodicTaskType(RELAY_OUTBOX.name, RELAY_OUTBOX.label))
    with pytest.raises(RuntimeError, match="'relay-outbox' has two implementations: relay_outbox and"):
        tasks.periodic(RELAY_OUTBOX)(lambda services: {})
    assert tasks.TASKS == before


def test_every_periodic_task_runs_under_its_declared_lease():
    assert {name: task.lease for name, task in tasks.TASKS.items()} == {
        name: declared.lease for name, declared in periodic.PERIODIC_TASKS.items()}
    assert tasks.TASKS["retention"].lease > tasks.TASKS["relay-outbox"].lease


def test_the_registry_imports_no_workflow_module():
    code = ("import sys, worker.workflows.registry\n"
            "assert not [m for m in sys.modules if m.startswith('worker.workflows.seed')], sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
