"""Settings come from environment variables only, parsed and validated once at start-up.

`Settings.from_env()` collects every problem before failing, so an operator fixing a
misconfigured environment sees the whole list at once instead of one error per deploy.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote

ROLES = ("web", "worker")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_DATABASE_URL = "sqlite:///var/aula.sqlite3"


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = _Reader(os.environ if environ is None else environ)
        settings = cls(
            role=env.choice("APP_ROLE", ROLES),
            secret_key=env.secret("SECRET_KEY"),
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
        )
        if env.problems:
            raise SettingsError(env.problems)
        return settings


def _database_url(env: "_Reader") -> str:
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

    def secret(self, name: str) -> str:
        value = self.required(name)
        if value and len(value) < 16:
            self.problems.append(f"{name} must be at least 16 characters long")
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
