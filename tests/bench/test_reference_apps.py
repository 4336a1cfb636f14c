"""The reference apps answer under gunicorn (a smoke test: no timing), on each database."""
from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
import sqlalchemy as sa

from bench import stack as bench_stack
from bench.processes import ProcessGroup
from bench.seed import canaries_done, seed
from bench.stack import Stack


def _call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def servers(database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(bench_stack, "WEB_WORKERS", "1")  # a smoke test needs no more
    monkeypatch.setattr(bench_stack, "WEB_THREADS", "2")
    group = ProcessGroup(tmp_path)
    stack = Stack(group, database_url, tmp_path)
    stack.worker_workers = "1"
    try:
        yield stack
    finally:
        group.close()
    assert all(not p.alive() for p in stack.processes.values())


def test_each_reference_app_does_its_one_thing(servers, database_url):
    data = seed(database_url, teachers=1, class_size=1, poll_jobs=1, canaries=1, update_targets=2)
    job_id = data.poll_jobs[0][0]

    assert _call(servers.reference("json") + "/json") == (200, {"status": "ok", "role": "reference"})

    status, body = _call(servers.reference("select") + f"/jobs/{job_id}")
    assert status == 200 and body["job"]["id"] == job_id and body["job"]["state"] == "running"
    assert body["job"]["created_at"].endswith("+00:00")

    engine = sa.create_engine(database_url)
    try:
        count = "SELECT count(*) FROM jobs WHERE type = 'canary'"
        with engine.connect() as conn:
            before = conn.execute(sa.text(count)).scalar_one()
        status, body = _call(servers.reference("insert") + "/jobs", {"title": "hello"})
        assert status == 202 and uuid.UUID(body["job"]["id"])
        with engine.connect() as conn:
            assert conn.execute(sa.text(count)).scalar_one() == before + 1
    finally:
        engine.dispose()

    target = data.update_targets[0]
    assert _call(servers.reference("update") + "/update", {"v": 1, "job_id": target, "type": "canary"}) \
        == (200, {"outcome": "succeeded"})
    assert canaries_done(database_url, list(data.update_targets)) == 1
