"""The servers a benchmark loads, each started on first use on 127.0.0.1 and a free port:
moto (with the queues, bucket and sender `make run` creates), Aula's web and worker tiers with
the commands and settings `make run` uses (devstack/run.py) but the deployed gunicorn sizes, and
the reference apps (bench/reference_apps.py) on the same gunicorn.conf.py.

Only what the current scenario needs is kept running (`keep`): on PostgreSQL every gthread
worker's connections count against max_connections, and idle servers still wake up."""
from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from bench.processes import Process, ProcessGroup, start_listening
from core.settings import GunicornSettings
from devstack.aws_bootstrap import bootstrap, queue_name_from_url
from devstack.run import ROOT, commands, stack_env
from infra.ebconfig import DEFAULT_NAMESPACE, load_saved_config_options, load_sqsd_settings

WEB_WORKERS, WEB_THREADS = "4", "8"  # the web environment's deployed sizes (GunicornSettings on 2 cores)
IN_FLIGHT_CAP = 1000  # JOBS_MAX_IN_FLIGHT_PER_USER for the web tier: its maximum
REFERENCE_ROLES = {"json": "web", "select": "web", "insert": "web", "update": "worker"}
# Variables of the caller's shell that would point a server at another port, queue or log group
# than the benchmark's own (stack_env keeps a variable that is already set).
UNSET = ("GUNICORN_BIND", "PORT", "APP_ROLE", "AWS_ENDPOINT_URL", "SQS_QUEUE_URL", "SQS_DEAD_LETTER_QUEUE_URL",
         "SQSD_WORKER_URL", "CLOUDWATCH_LOG_GROUP", "RDS_HOSTNAME")


def worker_gunicorn_workers(root: Path = ROOT) -> str:
    """GUNICORN_WORKERS of the worker environment's saved configuration (one per sqsd connection)."""
    option = load_saved_config_options(root).get((DEFAULT_NAMESPACE, "GUNICORN_WORKERS"))
    return str(option.value) if option is not None else str(load_sqsd_settings(root).http_connections)


class Stack:
    def __init__(self, group: ProcessGroup, database_url: str, work_dir: Path):
        self.group = group
        self.database_url = database_url
        self.work_dir = work_dir
        self.urls: dict[str, str] = {}
        self.processes: dict[str, Process] = {}
        self.sqsd = load_sqsd_settings(ROOT)
        self.worker_workers = worker_gunicorn_workers()
        self._moto_port: int | None = None

    # -- the environment every server of the run shares ------------------------------------
    def env(self, **ports: int) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if k not in UNSET}
        environ.update({
            "AULA_MOTO_PORT": str(self._moto_port or 0),
            "AULA_WEB_PORT": str(ports.get("web", 0)),
            "AULA_WORKER_PORT": str(ports.get("worker", 0)),
            "DATABASE_URL": self.database_url,
            "MAIL_MAILBOX_DIR": str(self.work_dir / "mailbox"),
            "AULA_UP_FILE": str(self.work_dir / "aula-up.txt"),
            "GUNICORN_WORKERS": WEB_WORKERS,
            "GUNICORN_THREADS": WEB_THREADS,
            # Raised so 32 connections enqueueing for a few teachers measure the path, not the 429.
            "JOBS_MAX_IN_FLIGHT_PER_USER": str(IN_FLIGHT_CAP),
        })
        return stack_env(environ)

    def gunicorn_settings(self, role: str) -> GunicornSettings:
        return GunicornSettings.from_env(self._role_env(self.env(), role, 8000))

    def _role_env(self, env: dict[str, str], role: str, port: int) -> dict[str, str]:
        workers = self.worker_workers if role == "worker" else WEB_WORKERS
        return {**env, "APP_ROLE": role, "PORT": str(port), "GUNICORN_WORKERS": workers}

    # -- servers -----------------------------------------------------------------------------
    def moto(self) -> str:
        if "moto" not in self.urls:
            def launch(port: int):
                self._moto_port = port
                command, env = commands(self.env())["aws"]
                return command, env, f"http://127.0.0.1:{port}/moto-api/"

            process, port = start_listening(self.group, "moto", launch, ROOT)
            self._remember("moto", process, f"http://127.0.0.1:{port}")
            env = self.env()
            bootstrap(env["AWS_ENDPOINT_URL"], env["AWS_REGION"], queue_name_from_url(env["SQS_QUEUE_URL"]),
                      queue_name_from_url(env["SQS_DEAD_LETTER_QUEUE_URL"]), env["S3_BUCKET"], env["MAIL_SENDER"],
                      self.sqsd.max_retries, visibility_timeout=self.sqsd.visibility_timeout)
        return self.urls["moto"]

    def empty_queue(self, quiet_seconds: float = 3.0, timeout: float = 300.0) -> int:
        """Empty the main queue (moto's) until it stays empty for `quiet_seconds`, and return how
        many messages it held in all. For rows that come after a backlog no worker consumes:
        moto's GetQueueAttributes walks every message in Python (0.2 s of this machine's CPU at
        1,000 messages, 0.86 s at 4,000, measured), and so does its SendMessage, once per message
        sent. The web tier's background senders are still handing moto the enqueue rows' messages
        when those rows end, so one purge is not enough: at the queue's depth then moto took a
        whole core (93-107% in `top` for 30 s on end, every py-spy sample in SendMessageBatch
        counting the queue), through the console's first rows (session 22). Emptied every second,
        each send is cheap and the senders are done in seconds. SQS itself puts neither cost on
        the app's machine."""
        import boto3

        env = self.env()
        sqs = boto3.client("sqs", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_REGION"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        return empty_until_quiet(sqs, env["SQS_QUEUE_URL"], quiet_seconds, timeout)

    def web(self) -> str:
        return self._tier("web")

    def worker(self) -> str:
        return self._tier("worker")

    def _tier(self, role: str) -> str:
        if role not in self.urls:
            self.moto()

            def launch(port: int):
                command, env = commands(self.env(**{role: port}))[role]
                return command, self._role_env(env, role, port), f"http://127.0.0.1:{port}/healthz"

            process, port = start_listening(self.group, role, launch, ROOT)
            self._remember(role, process, f"http://127.0.0.1:{port}")
        return self.urls[role]

    def reference(self, kind: str) -> str:
        name = f"ref-{kind}"
        if name not in self.urls:
            probe = {"json": "/json", "select": "/jobs/00000000-0000-0000-0000-000000000000"}.get(kind, "/")
            app = shlex.quote(f'bench.reference_apps:create_app("{kind}")')

            def launch(port: int):
                command = f"exec {shlex.quote(sys.executable)} -m gunicorn --config gunicorn.conf.py {app}"
                return command, self._role_env(self.env(), REFERENCE_ROLES[kind], port), f"http://127.0.0.1:{port}{probe}"

            process, port = start_listening(self.group, name, launch, ROOT)
            self._remember(name, process, f"http://127.0.0.1:{port}")
        return self.urls[name]

    def _remember(self, name: str, process: Process, url: str) -> None:
        self.processes[name] = process
        self.urls[name] = url

    def process(self, name: str) -> Process:
        return self.processes[name]

    def keep(self, *names: str) -> None:
        """Stop every server not named (moto stays while a tier stays: they send to it)."""
        wanted = set(names) | ({"moto"} if {"web", "worker"} & set(names) else set())
        for name in [n for n in self.processes if n not in wanted]:
            self.group.stop(name)
            del self.processes[name], self.urls[name]
            if name == "moto":
                self._moto_port = None


def empty_until_quiet(sqs, url: str, quiet_seconds: float, timeout: float, poll: float = 1.0) -> int:
    """Empty `url` whenever it holds messages, until it has held none for `quiet_seconds` (or
    `timeout` passed); about how many it held in all (a purge counts the depth read before it).
    A purge empties a deep queue in one call; SQS (and moto, when strict) allow one a minute, so
    within it the messages are received and deleted, ten at a time, which is cheap once the
    queue is shallow."""
    from botocore.exceptions import ClientError

    held = 0
    deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        found = int(depth["Attributes"]["ApproximateNumberOfMessages"])
        if found:
            quiet_since = time.monotonic()
            try:
                sqs.purge_queue(QueueUrl=url)
                held += found
            except ClientError as exc:
                if not str(exc.response.get("Error", {}).get("Code", "")).endswith("PurgeQueueInProgress"):
                    raise
                held += _delete_visible(sqs, url, deadline)
        elif time.monotonic() - quiet_since >= quiet_seconds:
            break
        time.sleep(poll)
    return held


def _delete_visible(sqs, url: str, deadline: float) -> int:
    deleted = 0
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for k, m in enumerate(messages)])
        deleted += len(messages)
    return deleted
