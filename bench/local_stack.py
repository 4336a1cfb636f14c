"""The whole local stack for a bench scenario that measures end to end (P3 fan-out, the roster
import): started the way `make run` does (devstack.run: moto in server mode, the web and worker
tiers under gunicorn with the deployed settings, the local sqsd, cron) on ports and a database of
its own, and stopped, every process of it, even when something fails."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from devstack.run import ROOT, commands, prepare, stack_env

BOOT_TIMEOUT = 90  # seconds for the web and worker tiers to answer /healthz


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:g} s")
        time.sleep(0.2)


def json_request(url: str, body: dict[str, Any] | None = None, token: str | None = None,
                  timeout: float = 30) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Stack:
    """The local stack's processes, each in its own process group so stopping it also stops
    gunicorn's workers."""

    def __init__(self, workdir: Path, database_url: str | None):
        overrides = {
            "AULA_MOTO_PORT": str(free_port()),
            "AULA_WEB_PORT": str(free_port()),
            "AULA_WORKER_PORT": str(free_port()),
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'aula.sqlite3'}",
            "MAIL_MAILBOX_DIR": str(workdir / "mailbox"),
            "AULA_UP_FILE": str(workdir / "aula-up.txt"),
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        }
        self.env = stack_env({**os.environ, **overrides})
        self.workdir = workdir
        self.web = f"http://127.0.0.1:{self.env['AULA_WEB_PORT']}"
        self.worker = f"http://127.0.0.1:{self.env['AULA_WORKER_PORT']}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        # No demo data: the bench seeds its own institution, and nothing else runs meanwhile.
        prepare(self.env, demo=False)
        for name, (command, env) in commands(self.env).items():
            with open(self.workdir / f"{name}.log", "ab") as log:
                self.processes[name] = subprocess.Popen(command, shell=True, cwd=ROOT, env=env, stdout=log,
                                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(self.web + "/healthz", BOOT_TIMEOUT)
        wait_http(self.worker + "/healthz", BOOT_TIMEOUT)
        self._wait_for_queue()

    def _wait_for_queue(self) -> None:
        """The sqsd process creates the queues first (devstack.aws_bootstrap): a message sent
        before would be left to the relay's next minute."""
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        sqs = boto3.client("sqs", endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name=self.env["AWS_REGION"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        deadline = time.monotonic() + BOOT_TIMEOUT
        while True:
            try:
                sqs.get_queue_attributes(QueueUrl=self.env["SQS_QUEUE_URL"], AttributeNames=["QueueArn"])
                return
            except (BotoCoreError, ClientError):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"no queue {self.env['SQS_QUEUE_URL']} after {BOOT_TIMEOUT} s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self.processes.clear()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in self.workdir.glob("*.log"))

    def core_command(self, *argv: str) -> None:
        subprocess.run([sys.executable, "-m", "core", *argv], cwd=ROOT, env={**self.env, "APP_ROLE": "web"},
                       check=True, stdout=subprocess.DEVNULL)


@contextmanager
def running_stack(database_url: str | None, log_dir: str | None) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="aula-bench-stack-") as tmp:
        workdir = Path(log_dir) if log_dir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        stack = Stack(workdir, database_url)
        try:
            stack.start()
            yield stack
        except BaseException:
            print(stack.logs(), file=sys.stderr)
            raise
        finally:
            stack.stop()


class Ses:
    """What moto's SES accepted, read over its HTTP API (the stack's moto is another process)."""

    def __init__(self, env: dict[str, str]):
        import boto3

        self.endpoint = env["AWS_ENDPOINT_URL"]
        self.client = boto3.client("ses", endpoint_url=self.endpoint, region_name=env["AWS_REGION"],
                                   aws_access_key_id="testing", aws_secret_access_key="testing")

    def sent(self) -> int:
        return int(self.client.get_send_quota()["SentLast24Hours"])

    def recipients(self) -> Counter[str]:
        with urllib.request.urlopen(self.endpoint + "/moto-api/data.json", timeout=60) as response:
            data = json.loads(response.read())
        messages = data.get("ses", {}).get("Message", [])
        return Counter(to for m in messages for to in (m.get("destinations") or {}).get("ToAddresses", []))


SEED_TIMEOUT = 300  # seconds for the seed workflow of a bench institution
TEACHER_PASSWORD = "aula-teacher"  # the local stack's seeded password (core.seeding)


def seed_school(stack: Stack, engine: sa.Engine, students_per_class: int, classes: int) -> tuple[str, list[dict]]:
    """An institution of `classes` core classes of `students_per_class` (the seed also makes an
    elective per section; every class has its own teacher, so the per-user cap is not in play):
    its slug, and each picked class's id, teacher's email and student count."""
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    stack.core_command("seed", "--slug", slug, "--name", "Bench School", "--students",
                       str(students_per_class * classes), "--class-size", str(students_per_class),
                       "--teachers", str(2 * classes), "--lessons-per-class", "0", "--activities-per-class", "0",
                       "--wait", str(SEED_TIMEOUT))
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT c.id AS class_id, u.email AS teacher, count(e.student_id) AS students "
            "FROM classes c JOIN users u ON u.id = c.teacher_id JOIN institutions i ON i.id = u.institution_id "
            "JOIN enrollments e ON e.class_id = c.id "
            "WHERE i.slug = :slug GROUP BY c.id, u.email HAVING count(e.student_id) = :n ORDER BY c.id"),
            {"slug": slug, "n": students_per_class}).mappings().all()
    picked = [dict(r) for r in rows][:classes]
    if len(picked) != classes:
        raise RuntimeError(f"the seed made {len(picked)} classes of {students_per_class}, not {classes}")
    return slug, picked


def login(stack: Stack, email: str, password: str = TEACHER_PASSWORD) -> str:
    """A bearer token for `email` (RuntimeError if the login is refused)."""
    status, body = json_request(stack.web + "/api/login", {"email": email, "password": password})
    if status != 200:
        raise RuntimeError(f"login of {email} answered {status}: {body}")
    return body["token"]
