"""The stack a chaos run breaks: moto, gunicorn web and worker, the local sqsd (the commands
`make run` uses, devstack/run.py), all on free ports of 127.0.0.1, on the run's own PostgreSQL
cluster (chaos/postgres.py), with the demo institution seeded through the queue.

The web tier reaches moto through a proxy (chaos/proxy.py), so a scenario can hold exactly the
web tier's SQS calls. Every process runs in its own process group (bench/processes.py) and is
stopped, with the cluster, by `close()` whatever happened."""
from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import requests
import sqlalchemy as sa

from bench.processes import Process, ProcessGroup, StartError, start_listening
from bench.stack import UNSET, worker_gunicorn_workers
from chaos.postgres import Cluster
from chaos.proxy import Proxy
from core.settings import normalize_database_url
from devstack.run import ROOT, commands, prepare, stack_env, wait_for_demo

BOOT_TIMEOUT = 90
DEMO_TIMEOUT = 240
TEACHER = ("teacher@aula.local", "aula-teacher")
WEB_WORKERS, WEB_THREADS = "2", "8"


class ChaosStack:
    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.mailbox = work_dir / "mailbox"
        self.group = ProcessGroup(work_dir)
        self.cluster = Cluster()
        self.database_url = ""
        self.moto_port = 0
        self.urls: dict[str, str] = {}
        self.proxy: Proxy | None = None
        self.engine: sa.Engine | None = None

    # -- environment -------------------------------------------------------------------------
    def env(self, **ports: int) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if k not in UNSET and not k.startswith("SQSD_")}
        environ.update({
            "AULA_MOTO_PORT": str(self.moto_port),
            "AULA_WEB_PORT": str(ports.get("web", 0)),
            "AULA_WORKER_PORT": str(ports.get("worker", self._port("worker"))),
            "DATABASE_URL": self.database_url,
            "MAIL_MAILBOX_DIR": str(self.mailbox),
            "AULA_UP_FILE": str(self.work_dir / "aula-up.txt"),
            "GUNICORN_THREADS": WEB_THREADS,
            # A load generator asks for many reports as one teacher; the cap would answer 429.
            "JOBS_MAX_IN_FLIGHT_PER_USER": "1000",
            "LOG_LEVEL": "INFO",
        })
        return stack_env(environ)

    def _port(self, name: str) -> int:
        url = self.urls.get(name)
        return int(url.rsplit(":", 1)[1]) if url else 0

    # -- life cycle ----------------------------------------------------------------------------
    def boot(self) -> None:
        self.cluster.start()
        self.database_url = normalize_database_url(self.cluster.url)
        self.engine = sa.create_engine(self.database_url, pool_pre_ping=True, pool_size=2)
        # As `make run`: migrate, and start the demo seed workflow, whose first message the sqsd
        # process's relay sends once the queue exists.
        prepare(self.env())
        self._start_moto()
        self.proxy = Proxy(self.moto_port)
        self.start_worker()
        self.start_sqsd()
        self.start_web()
        status = wait_for_demo(self.env(), DEMO_TIMEOUT)
        if status != ("ready", None):
            raise StartError(f"the demo seed did not finish: {status}\n{self.logs()}")

    def _start_moto(self) -> None:
        def launch(port: int):
            self.moto_port = port
            command, env = commands(self.env())["aws"]
            return command, env, f"http://127.0.0.1:{port}/moto-api/"

        _, port = start_listening(self.group, "moto", launch, ROOT, timeout=BOOT_TIMEOUT)
        self.moto_port = port
        self.urls["moto"] = f"http://127.0.0.1:{port}"

    def start_web(self) -> None:
        def launch(port: int):
            command, env = commands(self.env(web=port))["web"]
            # Through the proxy: a scenario may hold the web tier's calls to SQS (R6).
            env = {**env, "AWS_ENDPOINT_URL": self.proxy.url, "GUNICORN_WORKERS": WEB_WORKERS}
            return command, env, f"http://127.0.0.1:{port}/healthz"

        _, port = start_listening(self.group, "web", launch, ROOT, timeout=BOOT_TIMEOUT)
        self.urls["web"] = f"http://127.0.0.1:{port}"

    def start_worker(self, name: str = "worker", **extra: str) -> None:
        """A worker tier (gunicorn's sync workers, the environment's count unless `extra` says
        GUNICORN_WORKERS); `extra` is added to its environment, e.g. a faked clock (R7)."""
        def launch(port: int):
            command, env = commands(self.env(worker=port))["worker"]
            env = {**env, "GUNICORN_WORKERS": worker_gunicorn_workers(), **extra}
            return command, env, f"http://127.0.0.1:{port}/healthz"

        _, port = start_listening(self.group, name, launch, ROOT, timeout=BOOT_TIMEOUT)
        self.urls[name] = f"http://127.0.0.1:{port}"

    def start_sqsd(self, name: str = "sqsd", worker: str = "worker", **extra: str) -> None:
        """The sqsd process as `make run` starts it (bootstrap, requeue, relay, then sqsd), in
        front of the tier `worker`; `extra` are its fault options, e.g.
        SQSD_DUPLICATE_DELIVERIES="3". Another than the first ("sqsd") is only the daemon: the
        queue exists and the first one's relay ran (R7's second instance)."""
        command, env = commands(self.env(worker=self._port(worker)))["sqsd"]
        if name != "sqsd":
            command = command.rsplit(" && ", 1)[1]
        log = self.work_dir / f"{name}.log"
        offset = log.stat().st_size if log.exists() else 0
        # A short long-poll: stopping sqsd waits for the poll in progress, and one cut short by
        # the stop timeout would hide its messages for VisibilityTimeout (900 s).
        self.group.start(name, command, {**env, "SQSD_WAIT_TIME_SECONDS": "2", **extra}, ROOT)
        deadline = time.monotonic() + BOOT_TIMEOUT
        # Up once it polls (Sqsd.start()'s log line): the bootstrap and the relay ran before it.
        while "polling " not in log.read_text(errors="replace")[offset:]:
            if not self.process(name).alive() or time.monotonic() > deadline:
                raise StartError(f"sqsd did not start:\n{self.process(name).log_tail()}")
            time.sleep(0.2)

    def restart_sqsd(self, **extra: str) -> None:
        self.stop("sqsd")
        self.start_sqsd(**extra)

    def process(self, name: str) -> Process:
        return self.group.processes[name]

    def stop(self, name: str) -> None:
        self.group.stop(name)

    def kill(self, name: str) -> None:
        """SIGKILL the whole process group at once (a gunicorn master and its workers)."""
        process = self.group.processes.pop(name)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.popen.wait(timeout=10)

    def worker_pids(self, name: str = "worker") -> list[int]:
        """The gunicorn workers of a tier (the master's children; its command is exec'd, so the
        process group's leader is the master): the processes a job runs in."""
        master = self.process(name).pid
        children: list[int] = []
        for task in Path(f"/proc/{master}/task").glob("*"):
            try:
                children += [int(pid) for pid in (task / "children").read_text().split()]
            except OSError:  # the task ended while we looked
                continue
        return sorted(set(children))

    def close(self) -> None:
        try:
            self.group.close()
        finally:
            if self.proxy is not None:
                self.proxy.close()
            if self.engine is not None:
                self.engine.dispose()
            self.cluster.destroy()

    def logs(self, chars: int = 3000) -> str:
        parts = [f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in sorted(self.work_dir.glob("*.log"))]
        return "\n".join(parts + [f"--- postgres\n{self.cluster.log_tail(chars)}"])

    # -- helpers for scenarios ------------------------------------------------------------------
    @property
    def web(self) -> str:
        return self.urls["web"]

    def login(self, email: str = TEACHER[0], password: str = TEACHER[1]) -> dict[str, str]:
        response = requests.post(self.web + "/api/login", json={"email": email, "password": password}, timeout=30)
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def healthz(self, timeout: float = 5) -> int | None:
        try:
            with urllib.request.urlopen(self.web + "/healthz", timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None
