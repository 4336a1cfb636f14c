""".ebextensions: valid on BOTH tiers, known keys and options only, resources that pass cfn-lint.

Both environments deploy the same bundle, so a worker-only option or a resource naming one
tier's pieces here would break the other tier's deployment; those live in the saved
configurations and infra/aula-ops.yaml instead (docs/deploy.md, "Why three places").
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from core.__main__ import main as core_main
from tests.deploy import eb_options
from tests.deploy.files import cfn_lint, ebextension_options, ebextensions, environment_properties

# Minimal stand-ins for resources Elastic Beanstalk defines in every environment's stack, so a
# .ebextensions file that adds properties to one can be linted as the merged resource.
EB_RESOURCE_STUBS: dict[str, dict] = {
    "AWSEBAutoScalingGroup": {
        "Type": "AWS::AutoScaling::AutoScalingGroup",
        "Properties": {"MinSize": "1", "MaxSize": "4", "VPCZoneIdentifier": ["subnet-0123456789abcdef0"],
                       "LaunchTemplate": {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "1"}},
    },
    "AWSEBSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "instances"}},
}
# Names Elastic Beanstalk lets configuration files Ref besides its resources.
EB_REFERENCE_NAMES = {"AWSEBEnvironmentName", "AWSEBEnvironmentId"}


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _referenced(node: Any) -> set[str]:
    names: set[str] = set()
    for item in _walk(node):
        if isinstance(item, dict):
            if isinstance(item.get("Ref"), str):
                names.add(item["Ref"])
            if isinstance(item.get("Fn::GetAtt"), list):
                names.add(item["Fn::GetAtt"][0])
    return names


def _resolve_option_settings(node: Any) -> Any:
    # Fn::GetOptionSetting is Elastic Beanstalk's, resolved before CloudFormation sees the template.
    if isinstance(node, dict):
        if "Fn::GetOptionSetting" in node:
            return str(node["Fn::GetOptionSetting"].get("DefaultValue", "option-value"))
        return {key: _resolve_option_settings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve_option_settings(value) for value in node]
    return node


def lintable_template(files: dict[str, dict]) -> dict:
    """The Resources of the given .ebextensions files as one template, EB's own resources merged
    onto their stand-ins and EB's reference names declared, ready for cfn-lint."""
    resources: dict[str, dict] = {}
    for document in files.values():
        for name, resource in (document.get("Resources") or {}).items():
            merged = copy.deepcopy(resources.get(name) or EB_RESOURCE_STUBS.get(name) or {})
            merged.update({k: v for k, v in resource.items() if k != "Properties"})
            merged["Properties"] = {**merged.get("Properties", {}), **resource.get("Properties", {})}
            resources[name] = _resolve_option_settings(merged)
    parameters = {name: {"Type": "String"} for name in _referenced(resources) & EB_REFERENCE_NAMES}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Parameters": parameters, "Resources": resources}


def test_every_file_has_only_keys_elastic_beanstalk_knows():
    # EB skips a whole file with an unknown key, silently apart from an event.
    for name, document in ebextensions().items():
        assert isinstance(document, dict), name
        assert set(document) <= eb_options.EBEXTENSIONS_KEYS, (name, set(document) - eb_options.EBEXTENSIONS_KEYS)


def test_every_option_is_known_valid_and_meant_for_both_tiers():
    options = ebextension_options()
    assert options
    problems = [p for (namespace, option), value in options.items() for p in eb_options.problems(namespace, option, value)]
    assert not problems, problems
    tier_specific = {(n, o) for n, o in options if n in eb_options.WORKER_ONLY | eb_options.WEB_ONLY}
    assert not tier_specific | (set(options) & eb_options.WEB_ONLY_OPTIONS), "belongs in a saved configuration"
    assert not set(options) & eb_options.SET_BY_EB_CLI, "the EB CLI sets these itself; a value here never applies"


def test_instance_logs_are_streamed_with_a_retention_and_kept():
    options = ebextension_options()
    for namespace in ("aws:elasticbeanstalk:cloudwatch:logs", "aws:elasticbeanstalk:cloudwatch:logs:health"):
        assert options[(namespace, "DeleteOnTerminate")] is False
        assert int(options[(namespace, "RetentionInDays")]) >= 30
    assert options[("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs")] is True


def test_the_resources_pass_cfn_lint():
    template = lintable_template(ebextensions())
    assert template["Resources"], "nothing to lint"
    assert cfn_lint(template) == []


def test_cfn_lint_would_catch_a_broken_resource():
    broken = {"bad.config": {"Resources": {"AWSEBAutoScalingGroup": {
        "Type": "AWS::AutoScaling::AutoScalingGroup",
        "Properties": {"MetricCollection": [{"Granularity": "1Minute"}]},  # sic: a misspelt property
    }}}}
    assert any("'MetricCollection' was unexpected" in finding for finding in cfn_lint(lintable_template(broken)))


def test_no_resource_names_what_only_one_tier_has():
    for name, document in ebextensions().items():
        resources = document.get("Resources") or {}
        names = set(resources) | _referenced(resources) | _referenced(document.get("Outputs") or {})
        assert not names & eb_options.TIER_SPECIFIC_RESOURCES, (name, names & eb_options.TIER_SPECIFIC_RESOURCES)


def test_migrations_run_once_per_deployment_on_the_leader():
    commands = {name: spec for document in ebextensions().values()
                for name, spec in (document.get("container_commands") or {}).items()}
    migrations = [spec for spec in commands.values() if "python -m core migrate" in spec["command"]]
    assert len(migrations) == 1
    (migration,) = migrations
    # `test` is ignored next to leader_only (customize-containers-ec2.md), so none may be relied on.
    assert migration.get("leader_only") is True and "test" not in migration
    assert "/var/app/venv/" in migration["command"], "container commands run outside the app's virtualenv"
    with pytest.raises(SystemExit) as help_exit:
        core_main(["migrate", "--help"])  # the subcommand the deployment calls exists
    assert help_exit.value.code == 0


def test_the_database_ca_bundle_is_installed_where_the_app_looks_for_it():
    files = {path: spec for document in ebextensions().values() for path, spec in (document.get("files") or {}).items()}
    for path in ("web", "worker"):
        ca = environment_properties(path)["DATABASE_SSLROOTCERT"]
        assert ca in files and files[ca]["source"].startswith("https://"), ca
        assert environment_properties(path)["DATABASE_SSLMODE"] == "verify-full"
