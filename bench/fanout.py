"""P3 of issue 10: how long 1,000 emails take, end to end, on the real local stack.

`measure()` starts the stack the way `make run` does (devstack.run: moto in server mode, the web
and worker tiers under gunicorn with the deployed settings, the local sqsd), seeds an
institution with `classes` classes of `students_per_class` students (one teacher each), logs in
as each teacher and publishes one activity per class through the API, then waits for the last
teacher summary. It stops every process it started, even when something fails.

It reports, besides the time from the first publish to the last summary, how the emails were
counted: at the SES stand-in (moto's SentLast24Hours, and each recipient's messages in moto's
model data), in the effects table, and in the summaries' own counts. A run is only a good one
when all of them equal `expected`, each recipient exactly once.

`python -m bench.fanout [--database-url URL] [--students-per-class N] [--classes N]` prints the
result as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from devstack.run import ROOT, commands, prepare, stack_env

BOOT_TIMEOUT = 90  # seconds for the web and worker tiers to answer /healthz
SEED_TIMEOUT = 300  # seconds for the seed workflow of the bench institution
FANOUT_TIMEOUT = 600  # seconds from the first publish to the last summary before giving up
TEACHER_PASSWORD = "aula-teacher"  # the local stack's seeded password (core.seeding)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
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


def _json_request(url: str, body: dict[str, Any] | None = None, token: str | None = None,
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


class _Stack:
    """The local stack's processes, each in its own process group so stopping it also stops
    gunicorn's workers."""

    def __init__(self, workdir: Path, database_url: str | None):
        overrides = {
            "AULA_MOTO_PORT": str(_free_port()),
            "AULA_WEB_PORT": str(_free_port()),
            "AULA_WORKER_PORT": str(_free_port()),
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
        _wait_http(self.web + "/healthz", BOOT_TIMEOUT)
        _wait_http(self.worker + "/healthz", BOOT_TIMEOUT)
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
def _running_stack(database_url: str | None, log_dir: str | None) -> Iterator[_Stack]:
    with tempfile.TemporaryDirectory(prefix="aula-bench-fanout-") as tmp:
        workdir = Path(log_dir) if log_dir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        stack = _Stack(workdir, database_url)
        try:
            stack.start()
            yield stack
        except BaseException:
            print(stack.logs(), file=sys.stderr)
            raise
        finally:
            stack.stop()


class _Ses:
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


def _seed(stack: _Stack, engine: sa.Engine, students_per_class: int, classes: int) -> tuple[str, list[dict]]:
    """An institution of `classes` core classes of `students_per_class` (the seed also makes an
    elective per section; every class has its own teacher, so the per-user cap is not in play)."""
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


def _emails_of(engine: sa.Engine, class_ids: list[int]) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT u.email FROM enrollments e JOIN users u ON u.id = e.student_id WHERE e.class_id IN ("
            + ",".join(str(int(c)) for c in class_ids) + ")")).scalars().all()
    return set(rows)


def _summaries(engine: sa.Engine, activity_ids: list[int]) -> list[dict[str, Any]]:
    keys = [f"activity-summary:{a}" for a in activity_ids]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(sa.column("title"), sa.column("created_at"))
            .select_from(sa.table("notifications", sa.column("title"), sa.column("created_at"),
                                  sa.column("dedupe_key")))
            .where(sa.column("dedupe_key").in_(keys))).mappings()]


def _email_effects(engine: sa.Engine, activity_ids: list[int]) -> int:
    with engine.connect() as conn:
        return sum(conn.execute(sa.text("SELECT count(*) FROM effects WHERE key LIKE :k"),
                                {"k": f"email:activity:{a}:student:%"}).scalar_one() for a in activity_ids)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def measure(database_url: str | None = None, students_per_class: int = 200, classes: int = 5,
            log_dir: str | None = None) -> dict[str, Any]:
    """Publish `classes` activities to classes of `students_per_class` on a fresh local stack and
    time it from the first publish to the last teacher summary (see the module docstring).
    `log_dir` keeps the processes' logs (and the SQLite file) there; by default they go to a
    temporary directory removed at the end."""
    expected = students_per_class * classes
    with _running_stack(database_url, log_dir) as stack:
        engine = sa.create_engine(stack.env["DATABASE_URL"])
        try:
            _slug, picked = _seed(stack, engine, students_per_class, classes)
            emails = _emails_of(engine, [p["class_id"] for p in picked])
            tokens = []
            for p in picked:
                status, body = _json_request(stack.web + "/api/login",
                                             {"email": p["teacher"], "password": TEACHER_PASSWORD})
                if status != 200:
                    raise RuntimeError(f"login of {p['teacher']} answered {status}: {body}")
                tokens.append(body["token"])
            ses = _Ses(stack.env)
            sent_before = ses.sent()

            activity_ids: list[int] = []
            errors: list[str] = []
            lock = threading.Lock()

            def publish(p: dict, token: str) -> None:
                status, body = _json_request(stack.web + f"/api/classes/{p['class_id']}/activities",
                                             {"title": f"Bench {p['class_id']}", "description": "fan-out bench"},
                                             token=token)
                with lock:
                    if status == 202:
                        activity_ids.append(body["activity"]["id"])
                    else:
                        errors.append(f"publish to class {p['class_id']} answered {status}: {body}")

            started = datetime.now(UTC)
            threads = [threading.Thread(target=publish, args=(p, t)) for p, t in zip(picked, tokens, strict=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise RuntimeError("; ".join(errors))

            deadline = time.monotonic() + FANOUT_TIMEOUT
            while len(summaries := _summaries(engine, activity_ids)) < classes:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{len(summaries)} of {classes} summaries after {FANOUT_TIMEOUT} s")
                time.sleep(0.25)
            last = max(_aware(s["created_at"]) for s in summaries)
            # Anything still arriving at SES after the summaries would be a duplicate: give a
            # straggler a moment to show up before counting.
            time.sleep(2)
            recipients = ses.recipients()
            ours = {address: n for address, n in recipients.items() if address in emails}
            return {
                "seconds": round((last - started).total_seconds(), 2),
                "expected": expected,
                "emails_at_ses": ses.sent() - sent_before,
                "recipients_at_ses": len(ours),
                "recipients_more_than_once": sum(1 for n in ours.values() if n > 1),
                "email_effects": _email_effects(engine, activity_ids),
                "summaries": len(summaries),
                "summary_titles": sorted(s["title"] for s in summaries),
                "emails_per_second": round(expected / max((last - started).total_seconds(), 1e-9), 1),
                "database": engine.dialect.name,
            }
        finally:
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="a migrated-or-empty database to run on (default: a throw-away SQLite file)")
    parser.add_argument("--students-per-class", type=int, default=200)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--log-dir", help="keep the processes' logs here (default: removed at the end); "
                                          "BENCH_LOG_LEVEL sets their level (default WARNING)")
    args = parser.parse_args(argv)
    result = measure(args.database_url, args.students_per_class, args.classes, args.log_dir)
    print(json.dumps(result, indent=2))
    ok = all(result[k] == result["expected"] for k in ("emails_at_ses", "recipients_at_ses", "email_effects"))
    return 0 if ok and result["recipients_more_than_once"] == 0 and result["summaries"] == args.classes else 1


if __name__ == "__main__":
    sys.exit(main())
