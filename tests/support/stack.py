"""The real local stack for tests: moto in server mode, gunicorn web and worker tiers and the
local sqsd, started with the same commands `make run` uses (devstack.run), on free ports and a
throw-away SQLite file, with the demo data seeded through the queue.

`Stack` is the handle; `running_stack()` starts one and always stops every process, even when
start-up or the body fails. The e2e tests use it per test; the browser tests once per module."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from devstack.run import ROOT, commands, prepare, stack_env, wait_for_demo
from tests.support.servers import free_port, wait_for_http

BOOT_TIMEOUT = 60
DEMO_TIMEOUT = 120


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

    def start(self, name: str) -> None:
        command, env = commands(self.env)[name]
        with open(self.tmp_path / f"{name}.log", "ab") as log:
            # Own process group, so stopping it also stops gunicorn's workers.
            self.processes[name] = subprocess.Popen(
                command, shell=True, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        self.engine.dispose()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp_path.glob("*.log"))


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
