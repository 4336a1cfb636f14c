"""The real local stack for tests: moto in server mode, gunicorn web and worker tiers and the
local sqsd, started with the same commands `make run` uses (devstack.run), on free ports and a
throw-away SQLite file, with the demo data seeded through the queue.

`Stack` is the handle; `running_stack()` starts one and always stops every process, even when
start-up or the body fails. The e2e tests use it per test. The browser tests boot one per session
and give each module the state a fresh boot has (`snapshot()` once, `restore()` per module): the
boot (migrations, the demo seed through the queue) costs 10-40 s, a restore a few seconds."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
import sqlalchemy as sa

from core.models.jobs import JOB_STATES, TERMINAL_STATES
from devstack.run import ROOT, commands, prepare, stack_env, wait_for_demo
from tests.support.servers import free_port, wait_for_http

BOOT_TIMEOUT = 60
DEMO_TIMEOUT = 120
QUIET_TIMEOUT = 30  # how long a snapshot waits for the jobs in flight to finish
STOP_TIMEOUT = 15
# The processes a restore restarts (moto keeps running and is reset through its API).
APP_PROCESSES = ("web", "worker", "sqsd")
OPEN_JOB_STATES = tuple(s for s in JOB_STATES if s not in TERMINAL_STATES)


class Stack:
    def __init__(self, tmp_path: Path, **env: str):
        self.tmp_path = tmp_path
        self.env = stack_env(
            {
                **os.environ,
                "AULA_MOTO_PORT": str(free_port()),
                "AULA_WEB_PORT": str(free_port()),
                "AULA_WORKER_PORT": str(free_port()),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'aula.sqlite3'}",
                "MAIL_MAILBOX_DIR": str(tmp_path / "mailbox"),
                "GUNICORN_WORKERS": "2",
                # Quick redelivery after a failed POST, so the outage test stays short.
                "SQSD_ERROR_VISIBILITY_TIMEOUT": "1",
                "SQSD_WAIT_TIME_SECONDS": "1",
                **env,
            }
        )
        self.web = f"http://127.0.0.1:{self.env['AULA_WEB_PORT']}"
        self.worker = f"http://127.0.0.1:{self.env['AULA_WORKER_PORT']}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.engine = sa.create_engine(self.env["DATABASE_URL"])
        self.snapshot_path: Path | None = None

    def start(self, name: str) -> None:
        command, env = commands(self.env)[name]
        with open(self.tmp_path / f"{name}.log", "ab") as log:
            # Own process group, so stopping it also stops gunicorn's workers.
            self.processes[name] = subprocess.Popen(
                command, shell=True, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        self.stop_all([name], sig)

    def stop_all(self, names: list[str], sig: int = signal.SIGTERM) -> None:
        """Signal every named process at once, then wait for each: their graceful shutdowns
        (gunicorn's, sqsd's long poll) overlap instead of adding up."""
        stopping = [self.processes.pop(name) for name in names if name in self.processes]
        for process in stopping:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    pass
        for process in stopping:
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def close(self) -> None:
        self.stop_all(list(self.processes))
        self.engine.dispose()

    @property
    def database_path(self) -> Path:
        return Path(self.engine.url.database)

    def open_jobs(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM jobs WHERE state IN :states")
                                .bindparams(sa.bindparam("states", expanding=True)),
                                {"states": list(OPEN_JOB_STATES)}).scalar_one()

    def snapshot(self) -> None:
        """Keep the database as it is now (once the jobs in flight have finished, at most
        QUIET_TIMEOUT s), for restore(). SQLite's online backup: consistent while the tiers run."""
        deadline = time.monotonic() + QUIET_TIMEOUT
        while self.open_jobs() and time.monotonic() < deadline:
            time.sleep(0.2)
        target = self.tmp_path / "snapshot.sqlite3"
        target.unlink(missing_ok=True)
        source, copy = sqlite3.connect(self.database_path), sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        self.snapshot_path = target

    def restore(self) -> None:
        """Bring the stack back to its snapshot, as a fresh boot would leave it: the tiers and
        sqsd stopped (killed: whatever they held is thrown away with the data), moto emptied and
        its queues, bucket and mail identity made again the way sqsd's start makes them, the
        database copied back, the mailbox emptied; everything started again on the same ports.
        Returns once both tiers answer and the queues exist, so a test's first message is sent."""
        assert self.snapshot_path is not None, "restore() needs a snapshot() first"
        self.stop_all([name for name in APP_PROCESSES if name in self.processes], signal.SIGKILL)
        self.engine.dispose()
        requests.post(self.env["AWS_ENDPOINT_URL"] + "/moto-api/reset", timeout=30).raise_for_status()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.database_path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.snapshot_path, self.database_path)
        shutil.rmtree(self.env["MAIL_MAILBOX_DIR"], ignore_errors=True)
        for name in APP_PROCESSES:
            self.start(name)
        # While the tiers boot (sqsd's start runs the same again; it is idempotent).
        subprocess.run([sys.executable, "-m", "devstack.aws_bootstrap"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, timeout=BOOT_TIMEOUT)
        wait_for_http(self.web + "/healthz", BOOT_TIMEOUT)
        wait_for_http(self.worker + "/healthz", BOOT_TIMEOUT)


@contextmanager
def running_stack(tmp_path: Path, **env: str) -> Iterator[Stack]:
    """Start the whole stack, wait for both tiers and the demo data; stop everything after."""
    stack = Stack(tmp_path, **env)
    try:
        prepare(stack.env)
        for name in ("aws", "web", "worker", "sqsd"):
            stack.start(name)
        wait_for_http(stack.web + "/healthz", BOOT_TIMEOUT)
        wait_for_http(stack.worker + "/healthz", BOOT_TIMEOUT)
        # The demo data arrives through the queue (the seed workflow): logins work once it is done.
        assert wait_for_demo(stack.env, DEMO_TIMEOUT) == ("ready", None)
        yield stack
    except BaseException:
        print(stack.logs(), file=sys.stderr)
        raise
    finally:
        stack.close()
