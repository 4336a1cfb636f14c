"""Periodic tasks are safe when sqsd runs two copies at once: a database lease per task name."""
from __future__ import annotations

import threading
from datetime import timedelta

from core.db import utcnow
from core.jobs.periodic import RELAY_OUTBOX
from tests.sqsd import fire_task
from worker import leases, tasks


def test_a_lease_is_held_by_one_holder_until_released_or_expired(db):
    now = utcnow()
    assert leases.acquire(db, "t", "first", timedelta(minutes=5), now)
    assert not leases.acquire(db, "t", "second", timedelta(minutes=5), now)
    assert leases.acquire(db, "t", "third", timedelta(minutes=5), now + timedelta(minutes=6)), "expired"
    leases.release(db, "t", "first")  # not the holder any more: no effect
    assert not leases.acquire(db, "t", "fourth", timedelta(minutes=5), now + timedelta(minutes=7))
    leases.release(db, "t", "third")
    assert leases.acquire(db, "t", "fourth", timedelta(minutes=5), now + timedelta(minutes=7))


def test_two_overlapping_runs_of_a_task_do_the_work_once(worker_app, monkeypatch):
    inside, release = threading.Event(), threading.Event()
    runs: list[int] = []

    def slow(services):
        runs.append(1)
        inside.set()
        release.wait(timeout=20)
        return {"done": 1}

    monkeypatch.setitem(tasks.TASKS, "relay-outbox", tasks.PeriodicTask(RELAY_OUTBOX, slow))
    answers: list[dict] = []
    first = threading.Thread(target=lambda: answers.append(
        fire_task(worker_app.test_client(), "relay-outbox", "/sqsd/tasks/relay-outbox").get_json()))
    first.start()
    assert inside.wait(timeout=20)
    second = fire_task(worker_app.test_client(), "relay-outbox", "/sqsd/tasks/relay-outbox")
    release.set()
    first.join(timeout=20)
    assert second.status_code == 200, "skipping is a success: sqsd must delete the message"
    assert second.get_json()["skipped"]
    assert answers == [{"task": "relay-outbox", "done": 1}] and runs == [1]
    # The lease was released: the next tick runs again.
    assert fire_task(worker_app.test_client(), "relay-outbox", "/sqsd/tasks/relay-outbox").get_json()["done"] == 1
