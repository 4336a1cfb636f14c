"""The chaos suite's worker faults (worker/faults.py): off unless the environment names them and
the worker talks to a local AWS stand-in; a crash-listed type kills the very process that
receives it, on every delivery; an unknown-listed type is answered as by a worker without it."""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.jobs.outbox import envelope_for
from core.models import Job
from tests.sqsd import deliver
from worker import faults
from worker.faults import CRASH, LOCAL_ONLY, UNKNOWN, Faults

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL = {LOCAL_ONLY: "http://127.0.0.1:4566"}
HANDLERS = {"report": "the report handler", "canary": "the canary handler"}


def test_no_variable_means_no_fault():
    assert not Faults.from_env({}).active
    assert not Faults.from_env(LOCAL).active
    assert Faults.from_env(LOCAL).handler_for("report", HANDLERS) == "the report handler"


def test_the_variables_name_the_types(caplog: pytest.LogCaptureFixture):
    found = Faults.from_env({**LOCAL, CRASH: " report, canary ", UNKNOWN: "activity_fanout"})
    assert (found.crash, found.unknown) == ({"report", "canary"}, {"activity_fanout"})
    with caplog.at_level(logging.WARNING, logger="worker.faults"):
        assert found.handler_for("activity_fanout", {"activity_fanout": "handler"}) is None
    assert "does not know 'activity_fanout'" in caplog.text


def test_a_worker_without_a_local_stand_in_ignores_them(caplog: pytest.LogCaptureFixture):
    # A deployed worker talks to real AWS: a stray variable there must not take it down.
    with caplog.at_level(logging.WARNING, logger="worker.faults"):
        found = Faults.from_env({CRASH: "report", UNKNOWN: "canary"})
    assert not found.active
    assert found.handler_for("report", HANDLERS) == "the report handler"
    assert f"{LOCAL_ONLY} unset" in caplog.text


@pytest.mark.parametrize("variable", [CRASH, UNKNOWN])
def test_a_name_that_is_no_job_type_is_refused(variable: str):
    with pytest.raises(ValueError, match=f"{variable}: not declared job types: reprot"):
        Faults.from_env({**LOCAL, variable: "report,reprot"})


def _receive_in_a_process(job_type: str, crash: str) -> subprocess.CompletedProcess[str]:
    code = ("import logging, sys; logging.basicConfig(stream=sys.stderr);"
            "from worker import faults;"
            f"print(faults.handler_for({job_type!r}, {HANDLERS!r}))")
    env = {"PATH": "/usr/bin:/bin", CRASH: crash, **LOCAL}
    return subprocess.run([sys.executable, "-c", code], check=False, cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_a_crash_listed_type_kills_the_process_that_receives_it():
    killed = _receive_in_a_process("report", "report")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert killed.stdout == ""
    assert "killing worker process" in killed.stderr
    spared = _receive_in_a_process("canary", "report")
    assert (spared.returncode, spared.stdout.strip()) == (0, "the canary handler"), spared.stderr


def test_the_worker_answers_an_unknown_listed_type_422_and_runs_it_once_the_fault_is_gone(
        worker_client, db, probe, make_job, monkeypatch: pytest.MonkeyPatch):
    job = make_job()
    body = envelope_for(job).to_json()
    monkeypatch.setenv(UNKNOWN, "probe")
    monkeypatch.setenv(LOCAL_ONLY, LOCAL[LOCAL_ONLY])
    assert faults.configured().unknown == {"probe"}
    refused = deliver(worker_client, body)
    assert refused.status_code == 422 and "unknown job type 'probe'" in refused.get_json()["error"]
    db.expire_all()
    assert (db.get(Job, job.id).state, db.get(Job, job.id).attempts, probe.runs) == ("queued", 0, 0)

    monkeypatch.delenv(UNKNOWN)  # the deploy finished: this worker knows the type
    monkeypatch.delenv(LOCAL_ONLY)
    assert deliver(worker_client, body, receive_count=2).status_code == 200
    db.expire_all()
    assert (db.get(Job, job.id).state, probe.runs) == ("succeeded", 1)
