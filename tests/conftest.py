"""Shared fixtures. Every fixture that starts something stops it in a finally/yield, so a
failing test leaves no database, app or mock behind.

Database tests run once per backend: SQLite always, PostgreSQL too when TEST_DATABASE_URL
is set (CI sets it). The schema always comes from the Alembic migrations.
"""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from moto import mock_aws

from core.__main__ import migrate
from core.db import Base
from core.settings import Settings

# `make test` runs the suite on two pytest-xdist workers (-n 2 --dist loadgroup). Each group below
# runs whole on one worker: the chaos modules (one stack and cluster serve all their scenarios),
# the browser modules (one shared stack, tests/browser/conftest.py; some modules' tests build on
# the one before), the API fuzzing (its module-end floor on the number of cases holds only where
# every case ran). By path, in the scheduler: xdist 3.8 takes groups from xdist_group marks by
# writing a suffix into item._nodeid, which pytest 9 no longer reads, so marks would group nothing.
XDIST_GROUPS = (("tests/chaos/", "chaos"), ("tests/browser/", "browser"),
                ("tests/web/test_api_fuzz.py::", "api-fuzz"))
# Handed out first: the longest group, so the rest of the suite runs beside it, not after it.
XDIST_FIRST = "chaos"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any):
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class PathGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            for prefix, group in XDIST_GROUPS:
                if nodeid.startswith(prefix):
                    return group
            return super()._split_scope(nodeid)

        def _assign_work_unit(self, node: Any) -> None:
            if XDIST_FIRST in self.workqueue:
                self.workqueue.move_to_end(XDIST_FIRST, last=False)
            super()._assign_work_unit(node)

    return PathGroupScheduling(config, log)


BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
REGION = "us-east-1"


def _pg_admin_url() -> sa.engine.URL:
    url = sa.engine.make_url(os.environ["TEST_DATABASE_URL"])
    return url.set(drivername="postgresql+psycopg")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "aula.sqlite3"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    admin_url = _pg_admin_url()
    name = f"aula_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "aula.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_database")
    try:
        yield url
    finally:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()


def _create_queues() -> tuple[str, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_url = sqs.create_queue(QueueName="aula-jobs-dead")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName="aula-jobs",
        Attributes={"RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "10"}}'},
    )["QueueUrl"]
    return queue_url, dlq_url


@pytest.fixture(scope="module")
def _aws_module() -> Iterator[dict[str, str]]:
    """In-process AWS (moto) with the queue pair and bucket Aula expects, once per test module
    (starting moto costs ~0.4 s). Module scope keeps it off while tests/devstack and tests/e2e
    talk to a real moto server, which an active in-process mock would intercept."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }.items():
            patch.setenv(key, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            queue_url, dlq_url = _create_queues()
            boto3.client("s3", region_name=REGION).create_bucket(Bucket="aula-files")
            # SES refuses mail from an unverified sender; moto verifies an identity at once.
            sender = "no-reply@aula.test"
            boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=sender)
            yield {"SQS_QUEUE_URL": queue_url, "SQS_DEAD_LETTER_QUEUE_URL": dlq_url, "S3_BUCKET": "aula-files",
                   "MAIL_SENDER": sender}


@pytest.fixture
def aws(_aws_module: dict[str, str]) -> Iterator[dict[str, str]]:
    """The module's moto AWS, emptied after each test."""
    try:
        yield _aws_module
    finally:
        # Recreated rather than purged: moto enforces SQS's one-purge-a-minute rule, and
        # in-flight messages cannot be received to be deleted.
        sqs = boto3.client("sqs", region_name=REGION)
        for url in (_aws_module["SQS_QUEUE_URL"], _aws_module["SQS_DEAD_LETTER_QUEUE_URL"]):
            sqs.delete_queue(QueueUrl=url)
        _create_queues()
        bucket = boto3.resource("s3", region_name=REGION).Bucket(_aws_module["S3_BUCKET"])
        bucket.objects.all().delete()


def make_settings(role: str, database_url: str, aws_env: dict[str, str], **overrides: str) -> Settings:
    return Settings.from_env(
        {
            "APP_ROLE": role,
            "SECRET_KEY": "test-secret-key-0123456789abcdefghij",
            "DATABASE_URL": database_url,
            "AWS_REGION": REGION,
            "LOG_LEVEL": "WARNING",
            **aws_env,
            **overrides,
        }
    )


# Longer than any send to the in-process moto takes, short enough that a stuck sender fails
# the test instead of hanging it.
SENDER_WAIT_SECONDS = 30


class SentClient(FlaskClient):
    """The web app's test client: after each request it waits until the background outbox
    sender has sent what the request handed over (core.jobs.sender), so a test reads the queue
    and `published_at` as they are once the sender caught up, as an sqsd poll a moment later
    would. Tests of the sender itself use the sender directly."""

    def open(self, *args: Any, **kwargs: Any):
        response = super().open(*args, **kwargs)
        sender = self.application.extensions["aula"].queue.sender
        if sender is not None and not sender.wait_idle(SENDER_WAIT_SECONDS):
            raise AssertionError(f"the outbox sender did not finish within {SENDER_WAIT_SECONDS} s")
        return response


def _app(role: str, database_url: str, aws_env: dict[str, str]):
    from web import create_app as create_web
    from worker import create_app as create_worker

    factory = create_web if role == "web" else create_worker
    app = factory(make_settings(role, database_url, aws_env))
    app.config["TESTING"] = True
    app.test_client_class = SentClient
    return app


@pytest.fixture
def web_app(database_url: str, aws: dict[str, str]):
    app = _app("web", database_url, aws)
    try:
        yield app
    finally:
        # Before the module's moto goes: a sender thread must not outlive it (it would reach for AWS).
        app.extensions["aula"].close()


@pytest.fixture
def worker_app(database_url: str, aws: dict[str, str]):
    app = _app("worker", database_url, aws)
    try:
        yield app
    finally:
        app.extensions["aula"].close()


@pytest.fixture
def client(web_app):
    return web_app.test_client()


@pytest.fixture
def worker_client(worker_app):
    return worker_app.test_client()


@pytest.fixture
def db(web_app):
    """A session on the same database as the apps, for arranging and asserting."""
    with web_app.extensions["aula"].db.sessions() as session:
        yield session


@pytest.fixture
def sqs(aws: dict[str, str]):
    return boto3.client("sqs", region_name=REGION)
