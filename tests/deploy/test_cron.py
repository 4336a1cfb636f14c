"""cron.yaml read like the worker daemon reads it, each URL matched against the worker's routes,
and its tasks against the declared periodic tasks (core/jobs/periodic.py).

(tests/worker/test_periodic_tasks.py also POSTs every task to a running worker app.)"""
from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from core.jobs.periodic import PERIODIC_TASKS
from infra.ebconfig import ConfigError, load_cron
from tests.deploy.files import ROOT
from worker import sqsd


def test_cron_yaml_is_what_sqsd_accepts():
    tasks = load_cron(ROOT)  # version 1; name, url and a five-field schedule per task; unique names
    assert tasks, "cron.yaml has no tasks"


def test_the_reader_rejects_what_sqsd_rejects(tmp_path: Path):
    (tmp_path / "cron.yaml").write_text('version: 1\ncron:\n  - name: "a"\n    url: "/x"\n')
    with pytest.raises(ConfigError, match="schedule"):
        load_cron(tmp_path)


def test_every_task_url_is_routed_to_the_periodic_task_handler_and_a_known_task():
    app = Flask("routes")
    app.register_blueprint(sqsd.bp)
    urls = app.url_map.bind("localhost")
    for task in load_cron(ROOT):
        endpoint, arguments = urls.match(task.url, method="POST")
        assert endpoint == "sqsd.periodic_task", (task.name, endpoint)
        assert arguments["name"] == task.name, f"{task.url}: the URL names another task than {task.name!r}"
        assert task.name in PERIODIC_TASKS, f"{task.url}: no periodic task {task.name!r} in core/jobs/periodic.py"


def test_cron_yaml_schedules_every_declared_periodic_task_once():
    names = [task.name for task in load_cron(ROOT)]
    assert sorted(names) == sorted(PERIODIC_TASKS), "cron.yaml and core/jobs/periodic.py list different tasks"
