"""The saved configurations: the options only one tier has, applied by `eb create/config --cfg`."""
from __future__ import annotations

import pytest

from core.jobs.sqsd_paths import JOBS_PATH
from devstack.ebconfig import SQSD_NAMESPACE, load_sqsd_settings
from tests.deploy import eb_options
from tests.deploy.files import ROOT, TIERS, environment_properties, saved_config, saved_options
from web import create_app as create_web

# Keys of a saved configuration (environment-configuration-savedconfig.md).
SAVED_CONFIG_KEYS = {
    "AWSConfigurationTemplateVersion", "EnvironmentConfigurationMetadata", "Platform", "SolutionStack",
    "OptionSettings", "EnvironmentTier", "Tags", "CName", "EnvironmentName", "EnvironmentLinks",
}
EXPECTED_TIER = {"web": {"Name": "WebServer", "Type": "Standard"}, "worker": {"Name": "Worker", "Type": "SQS/HTTP"}}
# Never in the repository: set with `eb setenv` (docs/deploy.md, "Environment properties").
SECRETS = {"SECRET_KEY", "DATABASE_URL", "RDS_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


@pytest.mark.parametrize("tier", TIERS)
def test_the_file_is_a_saved_configuration_of_the_right_tier(tier):
    config = saved_config(tier)
    assert set(config) <= SAVED_CONFIG_KEYS, set(config) - SAVED_CONFIG_KEYS
    assert config["AWSConfigurationTemplateVersion"] == "1.1.0.0"
    assert config["EnvironmentTier"] == EXPECTED_TIER[tier]
    assert environment_properties(tier)["APP_ROLE"] == tier


@pytest.mark.parametrize("tier", TIERS)
def test_every_option_is_known_valid_and_exists_on_that_tier(tier):
    options = saved_options(tier)
    problems = [p for (namespace, option), value in options.items() for p in eb_options.problems(namespace, option, value)]
    assert not problems, problems
    foreign = eb_options.WEB_ONLY if tier == "worker" else eb_options.WORKER_ONLY
    assert not {n for n, _ in options} & foreign
    if tier == "worker":
        assert not set(options) & eb_options.WEB_ONLY_OPTIONS
    assert not set(options) & eb_options.SET_BY_EB_CLI, "the EB CLI sets these itself; a value here never applies"


@pytest.mark.parametrize("tier", TIERS)
def test_environment_properties_fit_and_hold_no_secret(tier):
    properties = environment_properties(tier)
    assert not set(properties) & SECRETS
    # Elastic Beanstalk's limits: keys up to 128, values up to 256 characters, 4096 bytes in all.
    assert all(len(key) <= 128 and len(value) <= 256 for key, value in properties.items())
    assert sum(len(f"{key}={value}".encode()) for key, value in properties.items()) <= 4096


def test_the_load_balancer_checks_the_health_route_of_the_web_app():
    from core.settings import Settings

    path = saved_options("web")[("aws:elasticbeanstalk:environment:process:default", "HealthCheckPath")]
    assert path == "/healthz"
    settings = Settings.from_env({"APP_ROLE": "web", "SECRET_KEY": "saved-config-test-secret-0123456789ab", "S3_BUCKET": "b",
                                  "SQS_QUEUE_URL": "http://127.0.0.1:9/q", "DATABASE_URL": "sqlite:///:memory:"})
    app = create_web(settings)
    try:
        assert app.url_map.bind("localhost").match(path, method="GET")[0] == "healthz"
    finally:
        app.extensions["aula"].db.dispose()


def test_the_worker_daemon_posts_where_the_worker_serves_and_the_local_sqsd_reads_the_same():
    options = {option: value for (namespace, option), value in saved_options("worker").items() if namespace == SQSD_NAMESPACE}
    local = load_sqsd_settings(ROOT)  # what devstack's sqsd and queue bootstrap use
    assert options["HttpPath"] == local.http_path == JOBS_PATH
    assert (int(options["InactivityTimeout"]), int(options["MaxRetries"])) == (local.inactivity_timeout, local.max_retries)
    # The queue URL is account-specific: set when the environment is created (docs/deploy.md).
    assert "WorkerQueueURL" not in options
