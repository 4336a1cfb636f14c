"""One handler per declared job type: the worker refuses to start otherwise."""
from __future__ import annotations

import pytest

from core.jobs.contract import JobType
from core.jobs.types import JOB_TYPES, REPORT
from tests.conftest import make_settings
from tests.worker.conftest import ProbePayload
from worker import create_app
from worker.handlers import HANDLERS, Handler, check_handlers, handles, load


def test_every_declared_type_has_exactly_one_handler():
    assert check_handlers() == []
    assert set(load()) == set(JOB_TYPES)
    assert all(HANDLERS[name].job_type is JOB_TYPES[name] for name in JOB_TYPES)


def test_a_declared_type_without_a_handler_stops_the_worker(monkeypatch, database_url, aws):
    monkeypatch.setitem(JOB_TYPES, "orphan", JobType("orphan", ProbePayload, "Orphan", time_limit_seconds=10))
    with pytest.raises(RuntimeError, match="job type 'orphan' is declared in core/jobs/types.py but has no handler"):
        create_app(make_settings("worker", database_url, aws))


def test_a_handler_for_an_undeclared_type_stops_the_worker(monkeypatch, database_url, aws):
    stray = JobType("stray", ProbePayload, "Stray", time_limit_seconds=10)
    monkeypatch.setitem(HANDLERS, "stray", Handler(stray, lambda ctx, payload: {}))
    with pytest.raises(RuntimeError, match="names job type 'stray', which core/jobs/types.py does not declare"):
        create_app(make_settings("worker", database_url, aws))


def test_a_handler_for_a_look_alike_of_a_declaration_is_refused(monkeypatch):
    """Same name, another object: the handler would run with another policy than the one declared."""
    look_alike = JobType("report", REPORT.payload, "Report", time_limit_seconds=1)
    monkeypatch.setitem(HANDLERS, "report", Handler(look_alike, lambda ctx, payload: {}))
    [problem] = check_handlers()
    assert problem.endswith("<lambda> names job type 'report', which core/jobs/types.py does not declare")


def test_two_handlers_for_one_type_are_refused_at_import():
    with pytest.raises(RuntimeError, match="job type 'report' has two handlers"):
        handles(REPORT)(lambda ctx, payload: {})
