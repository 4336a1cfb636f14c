"""infra.ebconfig: .ebextensions option_settings and cron.yaml, read like Elastic Beanstalk reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.ebconfig import (
    ConfigError,
    CronTask,
    SqsdSettings,
    load_cron,
    load_option_settings,
    load_saved_config_options,
    load_sqsd_settings,
    with_overrides,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_repository_config_loads() -> None:
    settings = load_sqsd_settings(REPO_ROOT)
    assert settings.http_path.startswith("/")
    assert 1 <= settings.http_connections <= 100
    assert all(task.url.startswith("/") for task in load_cron(REPO_ROOT))


def test_defaults_without_ebextensions(tmp_path: Path) -> None:
    assert load_sqsd_settings(tmp_path) == SqsdSettings(
        http_path="/", mime_type="application/json", http_connections=50, connect_timeout=5,
        inactivity_timeout=299, visibility_timeout=300, error_visibility_timeout=2, retention_period=345600,
        max_retries=10,
    )


def test_mapping_form(tmp_path: Path) -> None:
    write(tmp_path, ".ebextensions/10-sqsd.config", """
option_settings:
  aws:elasticbeanstalk:sqsd:
    HttpPath: /jobs
    HttpConnections: "7"
    VisibilityTimeout: 0
  aws:elasticbeanstalk:application:environment:
    APP_ROLE: worker
""")
    settings = load_sqsd_settings(tmp_path)
    assert (settings.http_path, settings.http_connections, settings.visibility_timeout) == ("/jobs", 7, 0)
    assert settings.inactivity_timeout == 299  # untouched options keep the EB default


def test_list_form_and_later_files_win(tmp_path: Path) -> None:
    write(tmp_path, ".ebextensions/10-first.config", """
option_settings:
  - namespace: aws:elasticbeanstalk:sqsd
    option_name: MaxRetries
    value: 3
  - namespace: aws:elasticbeanstalk:sqsd
    option_name: MimeType
    value: text/plain
  - option_name: APP_ROLE
    value: worker
""")
    # JSON is valid .ebextensions syntax too, and 20- is applied after 10-.
    write(tmp_path, ".ebextensions/20-second.config", json.dumps(
        {"option_settings": [{"namespace": "aws:elasticbeanstalk:sqsd", "option_name": "MaxRetries", "value": "5"}]}))
    settings = load_sqsd_settings(tmp_path)
    assert (settings.max_retries, settings.mime_type) == (5, "text/plain")
    options = load_option_settings(tmp_path)
    assert options[("aws:elasticbeanstalk:application:environment", "APP_ROLE")].value == "worker"
    assert options[("aws:elasticbeanstalk:sqsd", "MaxRetries")].source == ".ebextensions/20-second.config"


def test_other_sections_with_cloudformation_tags_are_tolerated(tmp_path: Path) -> None:
    write(tmp_path, ".ebextensions/01-resources.config", """
Resources:
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      AlarmName: !Ref AWSEBEnvironmentName
""")
    write(tmp_path, ".ebextensions/02-empty.config", "")
    assert load_sqsd_settings(tmp_path) == SqsdSettings()


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("HttpConnections", 0, "HttpConnections: 0 is out of range 1-100"),
    ("HttpConnections", 101, "HttpConnections: 101 is out of range 1-100"),
    ("ConnectTimeout", 61, "out of range 1-60"),
    ("InactivityTimeout", 36001, "out of range 1-36000"),
    ("VisibilityTimeout", 43201, "out of range 0-43200"),
    ("ErrorVisibilityTimeout", -1, "-1 is out of range 0-43200"),
    ("ConnectTimeout", 1.5, "expected a whole number, got 1.5"),
    ("RetentionPeriod", 59, "out of range 60-1209600"),
    ("MaxRetries", "ten", "expected a whole number"),
    ("HttpPath", "jobs", "must start with '/'"),
    ("HttpConection", 5, "unknown aws:elasticbeanstalk:sqsd option 'HttpConection'"),
])
def test_bad_values_name_file_and_option(tmp_path: Path, option: str, value: object, expected: str) -> None:
    write(tmp_path, ".ebextensions/30-worker.config",
          f"option_settings:\n  aws:elasticbeanstalk:sqsd:\n    {option}: {json.dumps(value)}\n")
    with pytest.raises(ConfigError) as error:
        load_sqsd_settings(tmp_path)
    assert str(error.value).startswith(".ebextensions/30-worker.config: ")
    assert expected in str(error.value)


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    write(tmp_path, ".ebextensions/40-broken.config", "option_settings: [unclosed\n")
    with pytest.raises(ConfigError, match=r"^\.ebextensions/40-broken\.config: cannot read"):
        load_sqsd_settings(tmp_path)


def test_overrides_are_validated() -> None:
    settings = with_overrides(SqsdSettings(), {"InactivityTimeout": "1", "HttpPath": "/x"}, "environment")
    assert (settings.inactivity_timeout, settings.http_path) == (1, "/x")
    with pytest.raises(ConfigError, match="^environment: aws:elasticbeanstalk:sqsd ConnectTimeout: 0 is out of"):
        with_overrides(SqsdSettings(), {"ConnectTimeout": 0}, "environment")


def test_cron_valid(tmp_path: Path) -> None:
    write(tmp_path, "cron.yaml", """
version: 1
cron:
  - name: "backup-job"
    url: "/backup"
    schedule: "0 */12 * * *"
  - name: other
    url: /other
    schedule: "*/5 * * * 1-5"
""")
    assert load_cron(tmp_path) == [CronTask("backup-job", "/backup", "0 */12 * * *"),
                                   CronTask("other", "/other", "*/5 * * * 1-5")]


def test_cron_absent_means_no_tasks(tmp_path: Path) -> None:
    assert load_cron(tmp_path) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("", "empty or not a mapping"),
    ("cron: []", "missing 'version'"),
    ("version: 2\ncron: []", "unsupported version 2"),
    ("version: '1'\ncron: []", "unsupported version '1'"),
    ("version: 1", "'cron' must be a list"),
    ("version: 1\ncron:\n  - name: a\n    schedule: '* * * * *'", "cron[0]: missing or empty 'url'"),
    ("version: 1\ncron:\n  - name: a\n    url: /a\n", "cron[0]: missing or empty 'schedule'"),
    ("version: 1\ncron:\n  - url: /a\n    schedule: '* * * * *'", "cron[0]: missing or empty 'name'"),
    ("version: 1\ncron:\n  - name: a\n    url: a\n    schedule: '* * * * *'", "url must be a path"),
    ("version: 1\ncron:\n  - name: a\n    url: /a\n    schedule: '61 * * * *'", "invalid cron schedule"),
    ("version: 1\ncron:\n  - name: a\n    url: /a\n    schedule: '0 * * * * *'", "invalid cron schedule"),
    ("version: 1\ncron:\n  - {name: a, url: /a, schedule: '* * * * *'}\n  - {name: a, url: /b, schedule: '* * * * *'}",
     "duplicate task name 'a'"),
    ("version: 1\ncron: [oops", "cannot read"),
])
def test_cron_errors(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, "cron.yaml", text)
    with pytest.raises(ConfigError) as error:
        load_cron(tmp_path)
    assert str(error.value).startswith("cron.yaml")
    assert expected in str(error.value)


def test_the_worker_saved_configuration_is_read_with_its_health_and_deployment_options(tmp_path: Path) -> None:
    # The committed file also sets enhanced health, batches and rolling updates (eb create --cfg
    # adds no defaults); only its sqsd options concern the local stack.
    write(tmp_path, ".elasticbeanstalk/aula-worker.cfg.yml", (REPO_ROOT / ".elasticbeanstalk/aula-worker.cfg.yml")
          .read_text(encoding="utf-8"))
    options = load_saved_config_options(tmp_path)
    assert options[("aws:elasticbeanstalk:healthreporting:system", "SystemType")].value == "enhanced"
    assert options[("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateType")].value == "Health"
    assert load_sqsd_settings(tmp_path) == load_sqsd_settings(REPO_ROOT)


def test_a_local_copy_that_shadows_the_committed_file_is_named_and_not_used(tmp_path: Path, caplog) -> None:
    # `eb config save/get` write .elasticbeanstalk/saved_configs/aula-worker.cfg.yml, which the EB
    # CLI then uploads instead of the committed file; the local stack keeps to the committed one.
    write(tmp_path, ".elasticbeanstalk/aula-worker.cfg.yml",
          "OptionSettings:\n  aws:elasticbeanstalk:sqsd:\n    MaxRetries: '10'\n")
    write(tmp_path, ".elasticbeanstalk/saved_configs/aula-worker.cfg.yml",
          "OptionSettings:\n  aws:elasticbeanstalk:sqsd:\n    MaxRetries: '3'\n")
    with caplog.at_level("WARNING", logger="infra.ebconfig"):
        assert load_sqsd_settings(tmp_path).max_retries == 10
    (record,) = [r for r in caplog.records if r.name == "infra.ebconfig"]
    assert ".elasticbeanstalk/saved_configs/aula-worker.cfg.yml" in record.getMessage()
    assert "eb config" in record.getMessage()
