"""Settings come from environment variables only, parsed and validated once at start-up.

`Settings.from_env()` collects every problem before failing, so an operator fixing a
misconfigured environment sees the whole list at once instead of one error per deploy.
"""
from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

ROLES = ("web", "worker")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_DATABASE_URL = "sqlite:///var/aula.sqlite3"
# What CloudWatch accepts, checked here so a typo fails at start-up rather than on the first send.
LOG_GROUP_NAME = r"[.\-_/#A-Za-z0-9]{1,512}"
LOG_STREAM_NAME = r"[^:*]{1,512}"
METRICS_NAMESPACE = r"[^:\s][^:]{0,254}"
MIN_SECRET_LENGTH = 32
# Published values: .env.example's and the local stack's (devstack/run.py). tests/core/test_settings.py
# reads both files, so a changed placeholder cannot slip past this list.
PLACEHOLDER_SECRETS = frozenset({"change-me-to-a-long-random-string", "local-development-only-not-a-secret"})


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class SettingsError(Exception):
    """Raised with every missing or malformed variable listed, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            "Aula cannot start; fix these environment variables:\n  - "
            + "\n  - ".join(problems)
        )


@dataclass(frozen=True)
class Settings:
    role: str
    secret_key: str = field(repr=False)
    database_url: str
    sqs_queue_url: str
    s3_bucket: str
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    database_sslmode: str | None = None
    database_sslrootcert: str | None = None
    log_level: str = "INFO"
    token_ttl_seconds: int = 12 * 3600
    download_url_ttl_seconds: int = 300
    poll_interval_seconds: int = 2
    sqs_dead_letter_queue_url: str | None = None
    mail_sender: str = "no-reply@aula.local"
    max_jobs_in_flight: int = 5
    session_cookie_secure: bool = True
    job_retention_days: int = 30
    notification_retention_days: int = 90
    mail_mailbox_dir: str | None = None
    # Observability (core/logs.py, core/metrics.py, docs/deploy.md "Logs"): unset group = stdout only.
    cloudwatch_log_group: str | None = None
    cloudwatch_log_stream: str = "{role}/{machine_name}/{process_id}"
    metrics_namespace: str = "Aula/Jobs"
    # Proxies in front of gunicorn that append to X-Forwarded-For (Elastic Beanstalk: the load
    # balancer and nginx = 2). 0 = use the connecting address: nothing a client sends is trusted.
    trusted_proxies: int = 0
    # The address people reach the web tier at (no trailing slash): emails and notifications link
    # to absolute URLs under it (core/links.py).
    public_base_url: str = "http://127.0.0.1:8000"
    # The largest file a student may submit (issue 13, submissions): the presigned POST's policy
    # and the worker's check both hold uploads to it.
    submission_max_bytes: int = 20 * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Reader(os.environ if environ is None else environ)
        settings = cls(
            role=env.choice("APP_ROLE", ROLES),
            secret_key=env.secret("SECRET_KEY", local=(env.optional("SESSION_COOKIE_SECURE") or "").lower() in FALSE_WORDS),
            database_url=_database_url(env),
            sqs_queue_url=env.url("SQS_QUEUE_URL"),
            s3_bucket=env.required("S3_BUCKET"),
            aws_region=env.optional("AWS_REGION") or env.optional("AWS_DEFAULT_REGION") or "us-east-1",
            aws_endpoint_url=env.url("AWS_ENDPOINT_URL", required=False) or None,
            database_sslmode=env.choice("DATABASE_SSLMODE", SSL_MODES, required=False) or None,
            database_sslrootcert=env.optional("DATABASE_SSLROOTCERT"),
            log_level=env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), required=False) or "INFO",
            token_ttl_seconds=env.integer("TOKEN_TTL_SECONDS", 12 * 3600, minimum=60),
            download_url_ttl_seconds=env.integer("DOWNLOAD_URL_TTL_SECONDS", 300, minimum=10, maximum=604800),
            poll_interval_seconds=env.integer("JOB_POLL_INTERVAL_SECONDS", 2, minimum=1, maximum=60),
            sqs_dead_letter_queue_url=env.url("SQS_DEAD_LETTER_QUEUE_URL", required=False) or None,
            mail_sender=env.optional("MAIL_SENDER") or "no-reply@aula.local",
            session_cookie_secure=env.boolean("SESSION_COOKIE_SECURE", True),
            max_jobs_in_flight=env.integer("JOBS_MAX_IN_FLIGHT_PER_USER", 5, minimum=1, maximum=1000),
            job_retention_days=env.integer("JOB_RETENTION_DAYS", 30, minimum=1),
            notification_retention_days=env.integer("NOTIFICATION_RETENTION_DAYS", 90, minimum=1),
            mail_mailbox_dir=env.optional("MAIL_MAILBOX_DIR"),
            cloudwatch_log_group=env.pattern("CLOUDWATCH_LOG_GROUP", LOG_GROUP_NAME, "a CloudWatch Logs group name"),
            cloudwatch_log_stream=env.pattern("CLOUDWATCH_LOG_STREAM", LOG_STREAM_NAME, "a log stream name without ':' or '*'")
            or "{role}/{machine_name}/{process_id}",
            metrics_namespace=env.pattern("METRICS_NAMESPACE", METRICS_NAMESPACE, "a CloudWatch namespace") or "Aula/Jobs",
            trusted_proxies=env.integer("TRUSTED_PROXIES", 0, minimum=0, maximum=5),
            public_base_url=(env.url("PUBLIC_BASE_URL", required=False) or "http://127.0.0.1:8000").rstrip("/"),
            submission_max_bytes=env.integer("SUBMISSION_MAX_BYTES", 20 * 1024 * 1024, minimum=1024,
                                             maximum=5 * 1024 ** 3),
        )
        if env.problems:
            raise SettingsError(env.problems)
        return settings


@dataclass(frozen=True)
class GunicornSettings:
    """What gunicorn.conf.py gives gunicorn, by role. The defaults are links of the timeout chains
    (ARCHITECTURE.md section 3; gunicorn.conf.py says why each is what it is). APP_ROLE may be
    unset here (web): the app itself still requires it."""

    role: str
    bind: str
    workers: int
    threads: int
    timeout: int
    graceful_timeout: int

    @property
    def worker_class(self) -> str:
        return "sync" if self.role == "worker" else "gthread"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, cpu_count: int | None = None) -> GunicornSettings:
        env = _Reader(os.environ if environ is None else environ)
        role = env.choice("APP_ROLE", ROLES, required=False) or "web"
        worker = role == "worker"
        port = env.integer("PORT", 8000, minimum=1, maximum=65535)
        web_workers = min(4, (cpu_count or multiprocessing.cpu_count()) * 2)
        settings = cls(
            role=role,
            bind=env.optional("GUNICORN_BIND") or f"127.0.0.1:{port}",
            workers=env.integer("GUNICORN_WORKERS", 4 if worker else web_workers, minimum=1),
            # One job per worker process: the sync worker class has no threads.
            threads=1 if worker else env.integer("GUNICORN_THREADS", 8, minimum=1),
            timeout=env.integer("GUNICORN_TIMEOUT", 600 if worker else 30, minimum=1),
            graceful_timeout=env.integer("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=0),
        )
        if env.problems:
            raise SettingsError(env.problems)
        return settings


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    sslmode: str | None = None
    sslrootcert: str | None = None


def database_settings(environ: Mapping[str, str] | None = None, url: str | None = None) -> DatabaseSettings:
    """Only the database part of the settings, by the same rules as the app (DATABASE_URL, else
    RDS_*, else the local SQLite file), for commands that need no other variable (migrate)."""
    env = _Reader(os.environ if environ is None else environ)
    settings = DatabaseSettings(
        url=normalize_database_url(url) if url else _database_url(env),
        sslmode=env.choice("DATABASE_SSLMODE", SSL_MODES, required=False) or None,
        sslrootcert=env.optional("DATABASE_SSLROOTCERT"),
    )
    if env.problems:
        raise SettingsError(env.problems)
    return settings


MIN_SEED_PASSWORD_LENGTH = 10


def seed_initial_password(environ: Mapping[str, str] | None = None) -> str | None:
    """SEED_INITIAL_PASSWORD, the initial password of the accounts `python -m core seed` creates
    (None when unset). Taken as given, spaces included: it is a password."""
    value = (os.environ if environ is None else environ).get("SEED_INITIAL_PASSWORD", "")
    if not value:
        return None
    if len(value) < MIN_SEED_PASSWORD_LENGTH:
        raise SettingsError([f"SEED_INITIAL_PASSWORD must be at least {MIN_SEED_PASSWORD_LENGTH} characters"])
    return value


def _database_url(env: _Reader) -> str:
    url = env.optional("DATABASE_URL")
    if url is None and env.optional("RDS_HOSTNAME"):
        # An RDS instance attached to the Elastic Beanstalk environment publishes RDS_* properties.
        user = quote(env.required("RDS_USERNAME"), safe="")
        password = quote(env.required("RDS_PASSWORD"), safe="")
        url = (
            f"postgresql+psycopg://{user}:{password}@{env.optional('RDS_HOSTNAME')}:"
            f"{env.optional('RDS_PORT') or '5432'}/{env.required('RDS_DB_NAME')}"
        )
    try:
        return normalize_database_url(url or DEFAULT_DATABASE_URL)
    except ValueError as exc:
        env.problems.append(f"DATABASE_URL {exc}")
        return ""


def normalize_database_url(url: str) -> str:
    # Heroku-style and plain URLs name no driver; we only ship psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    if not url.startswith(("sqlite:///", "postgresql+psycopg://")):
        raise ValueError(f"must start with sqlite:/// or postgresql:// (got {url.split(':')[0]!r})")
    return url


class _Reader:
    def __init__(self, environ: Mapping[str, str]):
        self.environ = environ
        self.problems: list[str] = []

    def optional(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            self.problems.append(f"{name} is required but not set")
            return ""
        return value

    def secret(self, name: str, local: bool) -> str:
        value = self.required(name)
        if not value:
            return value
        if len(value) < MIN_SECRET_LENGTH:
            self.problems.append(f"{name} must be at least {MIN_SECRET_LENGTH} characters long")
        elif len(set(value)) < 8:
            self.problems.append(f"{name} is not random enough (fewer than 8 different characters)")
        if value in PLACEHOLDER_SECRETS and not local:
            # Anyone can read these; they may sign cookies only on the plain-http local stack.
            self.problems.append(f"{name} is a published placeholder; generate one, e.g. "
                                 "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'")
        return value

    def choice(self, name: str, allowed: tuple[str, ...], required: bool = True) -> str:
        value = self.required(name) if required else self.optional(name)
        if value and value not in allowed:
            self.problems.append(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
        return value or ""

    def url(self, name: str, required: bool = True) -> str:
        value = self.required(name) if required else self.optional(name)
        if value and not value.startswith(("http://", "https://")):
            self.problems.append(f"{name} must be an http(s) URL (got {value!r})")
        return value or ""

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        self.problems.append(f"{name} must be true or false (got {raw!r})")
        return default

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problems.append(f"{name} must be a whole number (got {raw!r})")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.problems.append(f"{name} must be {bound} (got {value})")
        return value

    def pattern(self, name: str, regex: str, what: str) -> str | None:
        value = self.optional(name)
        if value is not None and not re.fullmatch(regex, value):
            self.problems.append(f"{name} must be {what} (got {value!r})")
        return value
