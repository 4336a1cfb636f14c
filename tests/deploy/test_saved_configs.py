"""The saved configurations: the options only one tier has, applied by `eb create/config --cfg`."""
from __future__ import annotations

import pytest

from core.jobs.sqsd_paths import JOBS_PATH
from infra.ebconfig import SQSD_NAMESPACE, load_sqsd_settings
from tests.deploy import eb_options
from tests.deploy.files import ROOT, SAVED_CONFIGS, TIERS, environment_properties, saved_config, saved_options
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
    assert not set(options) & eb_options.SET_BY_EB_CLI_FLAGS, "the EB CLI sets these itself; a value here never applies"


ROLLING = "aws:autoscaling:updatepolicy:rollingupdate"
COMMAND = "aws:elasticbeanstalk:command"
ASG = "aws:autoscaling:asg"


@pytest.mark.parametrize("tier", TIERS)
def test_the_saved_configuration_sets_what_eb_create_cfg_leaves_out(tier):
    # With a saved configuration the EB CLI adds none of its defaults (enhanced health, batch
    # size, health-based rolling updates): without these, an environment gets basic health (no
    # ApplicationRequests5xx for the 5xx alarm), deploys to 100 % of its instances at once and
    # replaces them all at once on a configuration change that needs new instances.
    options = saved_options(tier)
    missing = eb_options.SAVED_CONFIG_REQUIRED - set(options)
    assert not missing, f"eb create --cfg would leave these unset: {sorted(missing)}"
    assert options[("aws:elasticbeanstalk:healthreporting:system", "SystemType")] == "enhanced"
    assert str(options[(ROLLING, "RollingUpdateEnabled")]).lower() == "true"
    # Health-based: the next batch waits until the new instances pass health checks (with enhanced
    # health, 12 OK checks over 2 minutes on a web server, 18 over 3 minutes on a worker).
    assert options[(ROLLING, "RollingUpdateType")] == "Health"
    assert options[(COMMAND, "DeploymentPolicy")] in {"Rolling", "RollingWithAdditionalBatch"}


@pytest.mark.parametrize("tier", TIERS)
def test_batches_fit_the_auto_scaling_group(tier):
    options = saved_options(tier)
    min_size, max_size = int(options[(ASG, "MinSize")]), int(options[(ASG, "MaxSize")])
    in_service, batch = int(options[(ROLLING, "MinInstancesInService")]), int(options[(ROLLING, "MaxBatchSize")])
    # CloudFormation refuses a rolling update whose MinInstancesInService is not below MaxSize.
    assert 1 <= in_service < max_size, "keep at least one instance in service, below MaxSize"
    assert in_service <= min_size and 1 <= batch <= min_size
    size_type, size = options[(COMMAND, "BatchSizeType")], int(options[(COMMAND, "BatchSize")])
    assert 1 <= size <= (100 if size_type == "Percentage" else max_size)


def test_the_web_tier_keeps_full_capacity_through_deployments_and_updates():
    options = saved_options("web")
    assert options[(COMMAND, "DeploymentPolicy")] == "RollingWithAdditionalBatch"
    # A configuration change that replaces instances keeps MinSize instances serving throughout.
    assert int(options[(ROLLING, "MinInstancesInService")]) == int(options[(ASG, "MinSize")])


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


# The EB CLI's own ignore rules (ebcli/resources/strings.py `git_ignore`). `eb init` appends them
# to .gitignore unless the first line is already there, so committing them keeps its tree clean.
EB_CLI_GITIGNORE = ["# Elastic Beanstalk Files", ".elasticbeanstalk/*", "!.elasticbeanstalk/*.cfg.yml",
                    "!.elasticbeanstalk/*.global.yml"]


def _ignored_by_git(path: str) -> bool:
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    # --no-index: judge the rules themselves, also for files git already tracks.
    result = subprocess.run([git, "check-ignore", "--no-index", "-q", path], cwd=ROOT, capture_output=True, timeout=30,
                            check=False)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


def test_git_never_takes_a_local_saved_configuration_but_keeps_the_committed_ones():
    # `eb config save/get` write .elasticbeanstalk/saved_configs/NAME.cfg.yml: every setting of
    # the environment (account ids, environment properties such as DATABASE_URL) and no comments.
    for tier in TIERS:
        assert _ignored_by_git(f".elasticbeanstalk/saved_configs/aula-{tier}.cfg.yml")
        assert not _ignored_by_git(SAVED_CONFIGS[tier].relative_to(ROOT).as_posix())
    assert _ignored_by_git(".elasticbeanstalk/config.yml")  # eb init's, per developer
    lines = [line.strip() for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()]
    assert EB_CLI_GITIGNORE[0] in lines, "eb init would append its rules to .gitignore and dirty the tree"
    assert all(rule in lines for rule in EB_CLI_GITIGNORE)
