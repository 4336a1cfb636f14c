"""infra/aula-ops.yaml: passes cfn-lint, and agrees with the app and the environments it serves."""
from __future__ import annotations

import json
import re

import pytest

from core import metrics
from core.settings import Settings
from core.storage import UNCLAIMED_TAG
from tests.deploy.files import INFRA_TEMPLATE, cfn_lint, cloudformation_template, ebextensions, tier_options

TEMPLATE = cloudformation_template()
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]


def alarms() -> dict[str, dict]:
    return {name: r["Properties"] for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def metric_queries(properties: dict) -> dict[str, dict]:
    return {query["Id"]: query for query in properties["Metrics"]}


def test_the_template_passes_cfn_lint():
    assert cfn_lint(INFRA_TEMPLATE.read_text()) == []


def test_cfn_lint_would_catch_a_broken_alarm():
    broken = INFRA_TEMPLATE.read_text().replace("ComparisonOperator: GreaterThanThreshold", "ComparisonOperator: Above", 1)
    assert any("Above" in finding for finding in cfn_lint(broken))


def test_the_queue_dead_letters_after_sqsds_max_retries():
    # With our own queue (WorkerQueueURL), SQS's redrive policy is what moves a message.
    redrive = RESOURCES["JobsQueue"]["Properties"]["RedrivePolicy"]
    assert int(redrive["maxReceiveCount"]) == int(tier_options("worker")[("aws:elasticbeanstalk:sqsd", "MaxRetries")])
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}


def test_every_alarm_notifies_the_topic_both_ways():
    assert len(alarms()) >= 4
    for name, alarm in alarms().items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name  # no data means no jobs, not an outage


def test_the_queue_alarms_watch_the_right_queues():
    dead, oldest = alarms()["DeadLettersAlarm"], alarms()["OldestJobMessageAlarm"]
    assert dead["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "QueueName"]}
    assert (dead["MetricName"], int(dead["Threshold"]), dead["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold")
    assert oldest["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["JobsQueue", "QueueName"]}
    # A retry may wait up to SQS's 900 s delay in the queue by design; that alone must not page.
    assert int(PARAMETERS["OldestMessageAgeSeconds"]["Default"]) > 900


def test_the_failure_alarm_reads_the_metric_the_app_writes():
    queries = metric_queries(alarms()["JobFailureRateAlarm"])
    emitted = metrics.emf_fields(PARAMETERS["MetricsNamespace"]["Default"], "report", "failed", 1.0, 2.0, now_ms=0)
    directives = emitted["_aws"]["CloudWatchMetrics"]
    for query_id in ("failed", "runs"):
        metric = queries[query_id]["MetricStat"]["Metric"]
        assert "Dimensions" not in metric  # the all-job-types series
        namespace = PARAMETERS[metric["Namespace"]["Ref"]]["Default"]
        assert any(d["Namespace"] == namespace and [] in d["Dimensions"]
                   and metric["MetricName"] in {m["Name"] for m in d["Metrics"]} for d in directives)
    assert PARAMETERS["MetricsNamespace"]["Default"] == metrics.DEFAULT_NAMESPACE == Settings.metrics_namespace
    assert "failed / runs" in queries["rate"]["Expression"]["Fn::Sub"]


def test_the_5xx_alarm_reads_the_metrics_enhanced_health_publishes():
    # Published only with enhanced health, which `eb create --cfg` does not turn on by itself.
    assert tier_options("web")[("aws:elasticbeanstalk:healthreporting:system", "SystemType")] == "enhanced"
    published = next(doc["option_settings"]["aws:elasticbeanstalk:healthreporting:system"]["ConfigDocument"]
                     for doc in ebextensions().values()
                     if "aws:elasticbeanstalk:healthreporting:system" in (doc.get("option_settings") or {}))
    environment_metrics = published["CloudWatchMetrics"]["Environment"]
    for query in metric_queries(alarms()["Web5xxRateAlarm"]).values():
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            assert metric["Namespace"] == "AWS/ElasticBeanstalk" and metric["MetricName"] in environment_metrics
            assert metric["Dimensions"] == [{"Name": "EnvironmentName", "Value": {"Ref": "WebEnvironmentName"}}]


def test_the_worker_scales_on_backlog_per_instance_with_group_metrics_turned_on():
    policy = RESOURCES["WorkerBacklogScaling"]
    queries = {q["Id"]: q for q in policy["Properties"]["TargetTrackingConfiguration"]["CustomizedMetricSpecification"]["Metrics"]}
    assert queries["visible"]["MetricStat"]["Metric"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["JobsQueue", "QueueName"]}
    needed = queries["instances"]["MetricStat"]["Metric"]["MetricName"]
    assert queries["backlog"]["Expression"] == "visible / instances" and queries["backlog"]["ReturnData"] is True
    collected = [m for doc in ebextensions().values()
                 for m in (doc.get("Resources") or {}).get("AWSEBAutoScalingGroup", {}).get("Properties", {})
                 .get("MetricsCollection", [{}])[0].get("Metrics", [])]
    assert needed in collected, f"{needed} is only published when group metrics collection includes it"


def _statements(role: str) -> list[dict]:
    properties = RESOURCES[role]["Properties"]
    inline = [s for policy in properties.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    shared = [s for arn in properties.get("ManagedPolicyArns", [])
              for s in RESOURCES[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]]
    return inline + shared


def _actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


SQSD_METRICS_NAMESPACE = "ElasticBeanstalk/SQSD"  # the worker daemon's Health metric (EB worker guide)


def _metric_namespaces(statement: dict) -> list[str]:
    """The namespaces a PutMetricData statement is limited to by its condition (none: unlimited)."""
    values = statement.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace", [])
    return [values] if isinstance(values, str) else list(values)


@pytest.mark.parametrize("role", ["WebInstanceRole", "WorkerInstanceRole"])
def test_both_instance_roles_can_ship_logs_and_send_jobs_and_nothing_is_a_wildcard(role):
    statements = _statements(role)
    assert all(s["Effect"] == "Allow" for s in statements)
    for statement in statements:
        if statement["Resource"] == "*":
            # PutMetricData has no resource-level permissions; a namespace condition narrows it.
            assert _actions([statement]) == {"cloudwatch:PutMetricData"}, statement
            assert _metric_namespaces(statement), "PutMetricData must be limited to namespaces"
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["AppLogs"]["Resource"] == {"Fn::GetAtt": ["AppLogGroup", "Arn"]}
    assert set(by_sid["AppLogs"]["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert by_sid["SendJobMessages"]["Resource"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}


def test_only_the_worker_role_takes_messages_sends_email_and_writes_reports():
    web, worker = _statements("WebInstanceRole"), _statements("WorkerInstanceRole")
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "ses:SendEmail", "dynamodb:PutItem"):
        assert action in _actions(worker) and action not in _actions(web), action

    def on_reports(statements: list[dict]) -> set[str]:
        return _actions([s for s in statements if "ReportsBucket" in json.dumps(s["Resource"])])

    # The web tier signs download links and upload forms (S3 checks the signer may put and tag
    # the object), and stores a roster CSV; the worker writes the files, keeps checked uploads
    # and hands back those a resubmission dropped (tags them unclaimed again).
    assert on_reports(web) == {"s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"}
    assert on_reports(worker) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObjectTagging", "s3:PutObjectTagging"}
    (uploads,) = [s for s in web if "ReportsBucket" in json.dumps(s["Resource"]) and "s3:PutObject" in _actions([s])]
    assert [r["Fn::Sub"] for r in uploads["Resource"]] == [
        "${ReportsBucket.Arn}/submissions/*", "${ReportsBucket.Arn}/roster-imports/*"]


def test_browsers_may_post_uploads_from_the_web_origin_only():
    (rule,) = RESOURCES["ReportsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"] and rule["AllowedOrigins"] == [{"Ref": "WebOrigin"}]
    assert "Default" not in PARAMETERS["WebOrigin"]  # a wrong origin would fail every upload silently
    pattern = re.compile(PARAMETERS["WebOrigin"]["AllowedPattern"])
    assert pattern.match("https://aula.example.edu") and pattern.match("http://127.0.0.1:8000")
    assert not pattern.match("https://aula.example.edu/") and not pattern.match("*")


def test_abandoned_uploads_and_job_files_expire():
    rules = {r["Id"]: r for r in RESOURCES["ReportsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]}
    unclaimed = rules["expire-unclaimed-uploads"]
    assert unclaimed["TagFilters"] == [{"Key": UNCLAIMED_TAG[0], "Value": UNCLAIMED_TAG[1]}]
    assert unclaimed["Prefix"] == "submissions/" and unclaimed["ExpirationInDays"] == {"Ref": "UnclaimedUploadDays"}
    # Every prefix the app writes job results under expires like the reports.
    for prefix in ("reports/", "submission-zips/", "roster-imports/"):
        assert any(r.get("Prefix") == prefix and r["ExpirationInDays"] == {"Ref": "ReportRetentionDays"}
                   for r in rules.values()), prefix


def test_the_database_is_reachable_from_the_app_instances_only():
    (rule,) = RESOURCES["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert (rule["FromPort"], rule["ToPort"], rule["IpProtocol"]) == (5432, 5432, "tcp")
    assert rule["SourceSecurityGroupId"] == {"Fn::GetAtt": ["AppInstancesSecurityGroup", "GroupId"]}
    assert "CidrIp" not in rule


def test_the_worker_daemon_may_publish_its_health_metric_and_nothing_else():
    # sqsd publishes Health in ElasticBeanstalk/SQSD every minute; without PutMetricData that
    # metric (and the worker's health in the console) is missing. The app itself needs no
    # PutMetricData: its metrics are embedded-metric-format log lines (core/metrics.py).
    worker = [s for s in _statements("WorkerInstanceRole") if "cloudwatch:PutMetricData" in _actions([s])]
    (statement,) = worker
    assert _metric_namespaces(statement) == [SQSD_METRICS_NAMESPACE]
    assert "cloudwatch:PutMetricData" not in _actions(_statements("WebInstanceRole"))  # no sqsd there


@pytest.mark.parametrize("name", ["JobsQueue", "JobsDeadLetterQueue", "ReportsBucket", "AppLogGroup"])
def test_queued_jobs_reports_and_logs_outlive_the_stack(name):
    # Deleting the stack, or an update that replaces one of these, must not take queued jobs,
    # dead letters, report files or logs with it. Both policies are needed: DeletionPolicy alone
    # does not cover replacement.
    resource = RESOURCES[name]
    assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == ("Retain", "Retain"), name
