"""Settings.from_env: every problem reported at once, each naming its variable; URLs normalised."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from core.db import Database, make_engine
from core.settings import DEFAULT_DATABASE_URL, GunicornSettings, Settings, SettingsError, seed_initial_password

VALID = {
    "APP_ROLE": "web",
    "SECRET_KEY": "a-secret-key-of-32-characters-0a",
    "SQS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/aula-jobs",
    "S3_BUCKET": "aula-files",
}
REQUIRED = ("APP_ROLE", "SECRET_KEY", "SQS_QUEUE_URL", "S3_BUCKET")


def _problems(**env: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**VALID, **env})
    return caught.value.problems


def test_every_missing_required_variable_is_listed_in_one_error():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({})
    problems = caught.value.problems
    assert len(problems) == len(REQUIRED)
    for name in REQUIRED:
        assert any(p.startswith(name) and "required" in p for p in problems), name
        assert name in str(caught.value)


def test_a_blank_value_counts_as_missing():
    problems = _problems(S3_BUCKET="   ")
    assert problems == ["S3_BUCKET is required but not set"]


def test_a_valid_environment_parses():
    settings = Settings.from_env(VALID)
    assert (settings.role, settings.s3_bucket, settings.sqs_queue_url) == ("web", "aula-files", VALID["SQS_QUEUE_URL"])


@pytest.mark.parametrize(
    "name, value",
    [
        ("APP_ROLE", "cron"),
        ("SECRET_KEY", "too-short"),
        ("SECRET_KEY", "31-characters-are-not-enough-00"),
        ("SECRET_KEY", "ab" * 20),
        ("TOKEN_TTL_SECONDS", "twelve hours"),
        ("TOKEN_TTL_SECONDS", "59"),
        ("JOB_POLL_INTERVAL_SECONDS", "0"),
        ("DOWNLOAD_URL_TTL_SECONDS", "604801"),
        ("DATABASE_URL", "mysql://aula:pw@db.example/aula"),
        ("DATABASE_URL", "postgresql+psycopg2://aula@db.example/aula"),
        ("SQS_QUEUE_URL", "aula-jobs"),
        ("SQS_DEAD_LETTER_QUEUE_URL", "sqs://aula-jobs-dead"),
        ("AWS_ENDPOINT_URL", "localhost:4566"),
        ("DATABASE_SSLMODE", "verify"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_a_malformed_value_is_reported_naming_its_variable(name, value):
    problems = _problems(**{name: value})
    assert len(problems) == 1 and problems[0].startswith(name + " "), problems


def _published_secrets() -> dict[str, str]:
    """The SECRET_KEY values anyone can read: .env.example's and the local stack's default."""
    from core.__main__ import ROOT
    from devstack.run import stack_env

    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                   if line.startswith("SECRET_KEY="))
    return {".env.example": example["SECRET_KEY"], "devstack": stack_env({})["SECRET_KEY"]}


@pytest.mark.parametrize("source", [".env.example", "devstack"])
def test_a_published_secret_key_is_refused_outside_the_local_stack(source):
    secret = _published_secrets()[source]
    problems = _problems(SECRET_KEY=secret)
    assert len(problems) == 1 and "published placeholder" in problems[0], problems
    assert secret not in problems[0], "the message must not repeat the secret"
    assert _problems(SECRET_KEY=secret, SESSION_COOKIE_SECURE="true") == problems
    # The local stack (plain http, the only place with insecure cookies) may use them.
    assert Settings.from_env({**VALID, "SECRET_KEY": secret, "SESSION_COOKIE_SECURE": "False"}).secret_key == secret


def test_malformed_and_missing_variables_are_reported_together():
    env = {**VALID, "APP_ROLE": "cron", "TOKEN_TTL_SECONDS": "x"}
    del env["S3_BUCKET"]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert sorted(p.split()[0] for p in caught.value.problems) == ["APP_ROLE", "S3_BUCKET", "TOKEN_TTL_SECONDS"]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_postgres_urls_get_the_psycopg3_driver(scheme):
    settings = Settings.from_env({**VALID, "DATABASE_URL": f"{scheme}://aula:pw@db.example:5432/aula"})
    assert settings.database_url == "postgresql+psycopg://aula:pw@db.example:5432/aula"


def test_default_database_is_the_sqlite_file():
    assert Settings.from_env(VALID).database_url == DEFAULT_DATABASE_URL == "sqlite:///var/aula.sqlite3"


RDS = {
    "RDS_HOSTNAME": "aula.abc123.eu-west-1.rds.amazonaws.com",
    "RDS_PORT": "5433",
    "RDS_DB_NAME": "ebdb",
    "RDS_USERNAME": "aula@admin",
    "RDS_PASSWORD": "p@ss:w/rd%#?&=",
}


def test_rds_variables_build_a_quoted_postgres_url():
    url = sa.engine.make_url(Settings.from_env({**VALID, **RDS}).database_url)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password) == (RDS["RDS_USERNAME"], RDS["RDS_PASSWORD"])
    assert (url.host, url.port, url.database) == (RDS["RDS_HOSTNAME"], 5433, "ebdb")


def test_rds_port_defaults_to_5432():
    env = {**VALID, **RDS}
    del env["RDS_PORT"]
    assert sa.engine.make_url(Settings.from_env(env).database_url).port == 5432


def test_an_incomplete_rds_set_names_what_is_missing():
    env = {**VALID, **RDS}
    del env["RDS_PASSWORD"]
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert caught.value.problems == ["RDS_PASSWORD is required but not set"]


def test_database_url_wins_over_rds_variables():
    settings = Settings.from_env({**VALID, **RDS, "DATABASE_URL": "postgresql://other@db.example/other"})
    assert settings.database_url == "postgresql+psycopg://other@db.example/other"


def test_optional_variables_are_none_or_defaults_when_unset():
    settings = Settings.from_env(VALID)
    assert settings.aws_endpoint_url is None
    assert settings.database_sslmode is None
    assert settings.database_sslrootcert is None
    assert settings.sqs_dead_letter_queue_url is None
    assert (settings.aws_region, settings.log_level) == ("us-east-1", "INFO")
    assert (settings.token_ttl_seconds, settings.poll_interval_seconds, settings.download_url_ttl_seconds) == (
        12 * 3600, 2, 300)


def test_aws_default_region_is_used_when_aws_region_is_unset():
    assert Settings.from_env({**VALID, "AWS_DEFAULT_REGION": "eu-west-1"}).aws_region == "eu-west-1"


def test_the_secret_key_is_not_in_the_repr():
    assert VALID["SECRET_KEY"] not in repr(Settings.from_env(VALID))


def _connect_params(engine: sa.engine.Engine) -> dict:
    """The keyword arguments the engine hands to psycopg.connect, captured instead of connecting."""
    seen: dict = {}

    class Captured(Exception):
        pass

    @event.listens_for(engine, "do_connect")
    def capture(dialect, conn_rec, cargs, cparams):
        seen.update(cparams)
        raise Captured

    try:
        with pytest.raises(Captured):
            engine.connect()
    finally:
        engine.dispose()
    return seen


def test_database_sslmode_and_rootcert_reach_the_driver():
    settings = Settings.from_env({
        **VALID,
        "DATABASE_URL": "postgresql://aula:pw@aula.abc123.eu-west-1.rds.amazonaws.com/ebdb",
        "DATABASE_SSLMODE": "verify-full",
        "DATABASE_SSLROOTCERT": "/etc/pki/rds/global-bundle.pem",
    })
    params = _connect_params(Database(settings).engine)
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == "/etc/pki/rds/global-bundle.pem"
    assert params["host"] == "aula.abc123.eu-west-1.rds.amazonaws.com"


def test_without_sslmode_the_driver_gets_no_ssl_options():
    params = _connect_params(make_engine("postgresql+psycopg://aula:pw@db.example/aula"))
    assert "sslmode" not in params and "sslrootcert" not in params


def test_gunicorn_settings_default_per_role():
    web = GunicornSettings.from_env({}, cpu_count=1)
    assert web == GunicornSettings(role="web", bind="127.0.0.1:8000", workers=2, threads=8, timeout=30,
                                   graceful_timeout=30)
    assert web.worker_class == "gthread"
    assert GunicornSettings.from_env({}, cpu_count=16).workers == 4
    worker = GunicornSettings.from_env({"APP_ROLE": "worker", "GUNICORN_THREADS": "8"}, cpu_count=16)
    assert (worker.worker_class, worker.workers, worker.threads, worker.timeout) == ("sync", 4, 1, 600)


def test_gunicorn_settings_take_the_environment():
    settings = GunicornSettings.from_env({"APP_ROLE": "web", "PORT": "9000", "GUNICORN_WORKERS": "3",
                                          "GUNICORN_THREADS": "2", "GUNICORN_TIMEOUT": "45",
                                          "GUNICORN_GRACEFUL_TIMEOUT": "0"})
    assert (settings.bind, settings.workers, settings.threads, settings.timeout, settings.graceful_timeout) == (
        "127.0.0.1:9000", 3, 2, 45, 0)
    assert GunicornSettings.from_env({"GUNICORN_BIND": "0.0.0.0:80", "PORT": "9000"}).bind == "0.0.0.0:80"


def test_bad_gunicorn_settings_are_all_listed_at_once():
    with pytest.raises(SettingsError) as caught:
        GunicornSettings.from_env({"APP_ROLE": "wroker", "PORT": "http", "GUNICORN_WORKERS": "0",
                                   "GUNICORN_THREADS": "many", "GUNICORN_TIMEOUT": "-1"})
    assert caught.value.problems == [
        "APP_ROLE must be one of web, worker (got 'wroker')",
        "PORT must be a whole number (got 'http')",
        "GUNICORN_WORKERS must be at least 1 (got 0)",
        "GUNICORN_THREADS must be a whole number (got 'many')",
        "GUNICORN_TIMEOUT must be at least 1 (got -1)",
    ]


def test_the_seed_password_is_optional_at_least_ten_characters_and_taken_as_given():
    assert seed_initial_password({}) is None and seed_initial_password({"SEED_INITIAL_PASSWORD": ""}) is None
    assert seed_initial_password({"SEED_INITIAL_PASSWORD": " a secret! "}) == " a secret! "
    with pytest.raises(SettingsError) as caught:
        seed_initial_password({"SEED_INITIAL_PASSWORD": "short"})
    assert caught.value.problems == ["SEED_INITIAL_PASSWORD must be at least 10 characters"]
