"""The Elastic Beanstalk configuration options the deployment files may use, as documented.

Sources: the EB developer guide, "General options for all environments"
(command-options-general.md), "Platform specific options" (command-options-specific.md, Python
and proxy), and "Recommended values" (command-options.md). Elastic Beanstalk ignores a whole
`.ebextensions` file that has an invalid key and rejects unknown options at deployment, so a typo
must fail here. Only namespaces this project could plausibly use are listed; a new one must be
added here, with its documented options, before a file may use it.
"""
from __future__ import annotations

import re
from collections.abc import Callable

Check = Callable[[str], bool]


def integer(low: int, high: int) -> Check:
    return lambda value: bool(re.fullmatch(r"\d+", value)) and low <= int(value) <= high


def one_of(*allowed: str) -> Check:
    return lambda value: value in allowed


def anything(_value: str) -> bool:
    return True


BOOLEAN = one_of("true", "false")
RETENTION_DAYS = one_of(*map(str, (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653)))

# namespace -> option -> check of its value (as a string, the way EB passes every value).
OPTIONS: dict[str, dict[str, Check]] = {
    "aws:autoscaling:asg": {
        "Availability Zones": one_of("Any", "Any 1", "Any 2", "Any 3"), "Cooldown": integer(0, 10000),
        "Custom Availability Zones": anything, "MinSize": integer(1, 10000), "MaxSize": integer(1, 10000),
    },
    "aws:autoscaling:launchconfiguration": {
        "DisableIMDSv1": BOOLEAN, "EC2KeyName": anything, "IamInstanceProfile": anything, "ImageId": anything,
        "InstanceType": anything, "MonitoringInterval": one_of("1 minute", "5 minute"), "SecurityGroups": anything,
        "SSHSourceRestriction": anything, "BlockDeviceMappings": anything,
        "RootVolumeType": one_of("standard", "gp2", "gp3", "io1"), "RootVolumeSize": integer(8, 16384),
        "RootVolumeIOPS": integer(100, 20000),
    },
    "aws:autoscaling:trigger": {
        "BreachDuration": integer(1, 600), "LowerBreachScaleIncrement": anything, "LowerThreshold": integer(0, 20000000),
        "MeasureName": one_of("CPUUtilization", "NetworkIn", "NetworkOut", "DiskWriteOps", "DiskReadBytes", "DiskReadOps",
                              "DiskWriteBytes", "Latency", "RequestCount", "HealthyHostCount", "UnhealthyHostCount",
                              "TargetResponseTime"),
        "Period": integer(1, 600), "EvaluationPeriods": integer(1, 600),
        "Statistic": one_of("Minimum", "Maximum", "Sum", "Average"),
        "Unit": one_of("Seconds", "Percent", "Bytes", "Bits", "Count", "Bytes/Second", "Bits/Second", "Count/Second", "None"),
        "UpperBreachScaleIncrement": anything, "UpperThreshold": integer(0, 20000000),
    },
    "aws:autoscaling:updatepolicy:rollingupdate": {
        "MaxBatchSize": integer(1, 10000), "MinInstancesInService": integer(0, 9999), "RollingUpdateEnabled": BOOLEAN,
        "RollingUpdateType": one_of("Time", "Health", "Immutable"), "PauseTime": anything, "Timeout": anything,
    },
    "aws:ec2:instances": {
        "EnableSpot": BOOLEAN, "InstanceTypes": lambda v: 1 <= len(v.split(",")) <= 10 and all(t.strip() for t in v.split(",")),
        "SpotFleetOnDemandBase": anything, "SpotFleetOnDemandAboveBasePercentage": integer(0, 100), "SpotMaxPrice": anything,
    },
    "aws:ec2:vpc": {
        "VPCId": anything, "Subnets": anything, "ELBSubnets": anything, "ELBScheme": one_of("public", "internal"),
        "DBSubnets": anything, "AssociatePublicIpAddress": BOOLEAN,
    },
    "aws:elasticbeanstalk:application": {"Application Healthcheck URL": anything},
    "aws:elasticbeanstalk:cloudwatch:logs": {
        "StreamLogs": BOOLEAN, "DeleteOnTerminate": BOOLEAN, "RetentionInDays": RETENTION_DAYS,
    },
    "aws:elasticbeanstalk:cloudwatch:logs:health": {
        "HealthStreamingEnabled": BOOLEAN, "DeleteOnTerminate": BOOLEAN, "RetentionInDays": RETENTION_DAYS,
    },
    "aws:elasticbeanstalk:command": {
        "DeploymentPolicy": one_of("AllAtOnce", "Rolling", "RollingWithAdditionalBatch", "Immutable", "TrafficSplitting"),
        "Timeout": integer(1, 3600), "BatchSizeType": one_of("Percentage", "Fixed"), "BatchSize": integer(1, 10000),
        "IgnoreHealthCheck": BOOLEAN,
    },
    "aws:elasticbeanstalk:environment": {
        "EnvironmentType": one_of("SingleInstance", "LoadBalanced"), "ServiceRole": anything,
        "LoadBalancerType": one_of("classic", "application", "network"),
    },
    "aws:elasticbeanstalk:environment:process:default": {
        "DeregistrationDelay": integer(0, 3600), "HealthCheckInterval": integer(5, 300), "HealthCheckPath": lambda v: v.startswith("/"),
        "HealthCheckTimeout": integer(1, 60), "HealthyThresholdCount": integer(2, 10),
        "MatcherHTTPCode": lambda v: all(re.fullmatch(r"[2-4]\d\d", c.strip()) for c in v.split(",")),
        "Port": integer(1, 65535), "Protocol": one_of("TCP", "HTTP", "HTTPS"), "StickinessEnabled": BOOLEAN,
        "StickinessLBCookieDuration": integer(1, 604800), "StickinessType": one_of("lb_cookie"),
        "UnhealthyThresholdCount": integer(2, 10),
    },
    "aws:elasticbeanstalk:environment:proxy": {"ProxyServer": one_of("nginx", "apache", "none")},
    "aws:elasticbeanstalk:healthreporting:system": {
        "SystemType": one_of("basic", "enhanced"), "ConfigDocument": anything,
        "HealthCheckSuccessThreshold": one_of("Ok", "Warning", "Degraded", "Severe"),
    },
    "aws:elasticbeanstalk:hostmanager": {"LogPublicationControl": BOOLEAN},
    "aws:elasticbeanstalk:managedactions": {
        "ManagedActionsEnabled": BOOLEAN, "PreferredStartTime": anything, "ServiceRoleForManagedUpdates": anything,
    },
    "aws:elasticbeanstalk:managedactions:platformupdate": {"UpdateLevel": one_of("patch", "minor"), "InstanceRefreshEnabled": BOOLEAN},
    "aws:elasticbeanstalk:sns:topics": {
        "Notification Endpoint": anything, "Notification Protocol": one_of("http", "https", "email", "email-json", "sqs"),
        "Notification Topic ARN": anything, "Notification Topic Name": anything,
    },
    "aws:elasticbeanstalk:sqsd": {
        "WorkerQueueURL": anything, "HttpPath": lambda v: v.startswith("/"), "MimeType": anything,
        "HttpConnections": integer(1, 100), "ConnectTimeout": integer(1, 60), "InactivityTimeout": integer(1, 36000),
        "VisibilityTimeout": integer(0, 43200), "ErrorVisibilityTimeout": integer(0, 43200),
        "RetentionPeriod": integer(60, 1209600), "MaxRetries": integer(1, 100),
    },
    "aws:elbv2:loadbalancer": {
        "AccessLogsS3Bucket": anything, "AccessLogsS3Enabled": BOOLEAN, "AccessLogsS3Prefix": anything,
        "IdleTimeout": integer(1, 3600), "ManagedSecurityGroup": anything, "SecurityGroups": anything,
    },
    "aws:elbv2:listener:default": {
        "DefaultProcess": anything, "ListenerEnabled": BOOLEAN, "Protocol": one_of("HTTP", "HTTPS", "TCP"),
        "Rules": anything, "SSLCertificateArns": anything, "SSLPolicy": anything,
    },
}
# Namespaces whose option names are the user's own (environment properties, custom options).
FREE_FORM = {
    "aws:elasticbeanstalk:application:environment": re.compile(r"[A-Z_][A-Z0-9_]*"),
    "aws:elasticbeanstalk:customoption": re.compile(r".+"),
}

# Options that exist on one tier only: a worker has no load balancer, a web server no sqsd.
WORKER_ONLY = {"aws:elasticbeanstalk:sqsd"}
WEB_ONLY = {
    "aws:elbv2:loadbalancer", "aws:elbv2:listener:default", "aws:elasticbeanstalk:environment:process:default",
    "aws:elasticbeanstalk:application",
}
WEB_ONLY_OPTIONS = {("aws:elasticbeanstalk:environment", "LoadBalancerType"), ("aws:elasticbeanstalk:environment", "EnvironmentType")}

# The EB CLI sets these at API level from its own command-line options (`--instance_profile`,
# `--instance_type`, `--service-role`) when it creates an environment, which beats both saved
# configurations and .ebextensions: a value for them in either file would not apply.
SET_BY_EB_CLI_FLAGS = {
    ("aws:autoscaling:launchconfiguration", "IamInstanceProfile"),
    ("aws:autoscaling:launchconfiguration", "InstanceType"),
    ("aws:elasticbeanstalk:environment", "ServiceRole"),
}
# What `eb create` adds at API level when it is given NO saved configuration (ebcli/objects/
# requests.py, `add_client_defaults`, which returns at once when a template is named). With
# `eb create --cfg` (how both environments are created, docs/deploy.md) it adds none of them, so
# each saved configuration must set them itself; in .ebextensions they would lose to the EB CLI's
# values whenever an environment is created without --cfg.
EB_CLI_DEFAULTS = {
    ("aws:elasticbeanstalk:healthreporting:system", "SystemType"),
    ("aws:elasticbeanstalk:command", "BatchSize"),
    ("aws:elasticbeanstalk:command", "BatchSizeType"),
    ("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateEnabled"),
    ("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateType"),
    # Classic load balancer only (the web tier has an application load balancer).
    ("aws:elb:policies", "ConnectionDrainingEnabled"),
    ("aws:elb:loadbalancer", "CrossZone"),
}
# Never in .ebextensions.
SET_BY_EB_CLI = SET_BY_EB_CLI_FLAGS | EB_CLI_DEFAULTS
# What each saved configuration must set, since `eb create --cfg` adds no defaults: the EB CLI's
# defaults that apply to our environments, plus the rest of the deployment and rolling-update
# settings that go with them.
SAVED_CONFIG_REQUIRED = {
    ("aws:elasticbeanstalk:healthreporting:system", "SystemType"),
    ("aws:elasticbeanstalk:command", "DeploymentPolicy"),
    ("aws:elasticbeanstalk:command", "BatchSizeType"),
    ("aws:elasticbeanstalk:command", "BatchSize"),
    ("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateEnabled"),
    ("aws:autoscaling:updatepolicy:rollingupdate", "RollingUpdateType"),
    ("aws:autoscaling:updatepolicy:rollingupdate", "MaxBatchSize"),
    ("aws:autoscaling:updatepolicy:rollingupdate", "MinInstancesInService"),
}

# Resources Elastic Beanstalk creates in one tier's stack only (customize-containers-format-resources-eb.md);
# a `.ebextensions` resource that names one breaks the other tier's deployment.
TIER_SPECIFIC_RESOURCES = {
    "AWSEBWorkerQueue", "AWSEBWorkerDeadLetterQueue", "AWSEBWorkerCronLeaderRegistry",
    "AWSEBLoadBalancer", "AWSEBLoadBalancerSecurityGroup", "AWSEBV2LoadBalancer", "AWSEBV2LoadBalancerListener",
    "AWSEBV2LoadBalancerTargetGroup", "AWSEBCloudwatchAlarmHigh", "AWSEBCloudwatchAlarmLow",
}

# Top-level keys of a .ebextensions file (ebextensions.md, customize-containers-ec2.md).
EBEXTENSIONS_KEYS = {
    "option_settings", "packages", "groups", "users", "sources", "files", "commands", "services",
    "container_commands", "Resources", "Outputs",
}


def problems(namespace: str, option: str, value: object) -> list[str]:
    """What is wrong with one option setting, if anything."""
    where = f"{namespace} {option}"
    if namespace in FREE_FORM:
        return [] if FREE_FORM[namespace].fullmatch(option) else [f"{where}: not a valid name here"]
    if namespace not in OPTIONS:
        return [f"{namespace}: unknown namespace"]
    if option not in OPTIONS[namespace]:
        return [f"{where}: unknown option"]
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if not isinstance(value, dict) and not OPTIONS[namespace][option](text):
        return [f"{where}: invalid value {value!r}"]
    return []
