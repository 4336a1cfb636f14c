"""The timeout chains of ARCHITECTURE.md section 3, read from the files that set each link.

Worker (one sqsd POST): job time limit < gunicorn timeout < nginx proxy_read_timeout for /sqsd/
< sqsd InactivityTimeout < sqsd VisibilityTimeout. Web: gunicorn timeout <= nginx timeouts <=
load balancer idle timeout < the platform's nginx keepalive_timeout. `.platform/nginx` applies to
both tiers, so the long worker timeouts live in a `location /sqsd/` and everything else gets the
web values.
"""
from __future__ import annotations

import itertools

import pytest

from core.jobs.sqsd_paths import JOBS_PATH, SQSD_PREFIX
from core.jobs.types import JOB_TYPES
from infra.ebconfig import load_cron, load_sqsd_settings
from tests.deploy.files import (
    ROOT,
    cloudformation_template,
    gunicorn_settings,
    nginx_server_context,
    platform_keepalive_seconds,
    tier_options,
)

SQSD_LOCATION = SQSD_PREFIX + "/"


def assert_chain(chain: list[tuple[str, int]], strict: bool = True) -> None:
    for (low_name, low), (high_name, high) in itertools.pairwise(chain):
        ok = low < high if strict else low <= high
        assert ok, f"{low_name} ({low} s) must be {'below' if strict else 'at most'} {high_name} ({high} s)"


def test_the_worker_timeout_chain_holds():
    sqsd = load_sqsd_settings(ROOT)
    gunicorn = gunicorn_settings("worker")
    sqsd_location = nginx_server_context().block("location", "^~", SQSD_LOCATION)
    assert gunicorn["worker_class"] == "sync", "only sync workers are killed by the timeout while busy"
    assert_chain([
        ("the longest job time limit (core/jobs/types.py)", max(t.time_limit_seconds for t in JOB_TYPES.values())),
        ("gunicorn timeout (worker)", gunicorn["timeout"]),
        ("nginx proxy_read_timeout for /sqsd/", sqsd_location.seconds("proxy_read_timeout")),
        ("sqsd InactivityTimeout", sqsd.inactivity_timeout),
        ("sqsd VisibilityTimeout", sqsd.visibility_timeout),
    ])
    # Sending the POST body to gunicorn is bounded the same way.
    assert sqsd_location.seconds("proxy_send_timeout") < sqsd.inactivity_timeout


def test_a_lease_outlives_the_time_limit():
    # Shorter, and a slow run would be reclaimed while it is still allowed to go on.
    assert all(t.lease.total_seconds() > t.time_limit_seconds for t in JOB_TYPES.values())


def test_every_sqsd_post_gets_the_long_timeouts():
    paths = [load_sqsd_settings(ROOT).http_path] + [task.url for task in load_cron(ROOT)]
    assert JOBS_PATH in paths
    assert all(path.startswith(SQSD_LOCATION) for path in paths), paths


def test_the_web_timeout_chain_holds():
    gunicorn = gunicorn_settings("web")
    server = nginx_server_context()
    idle = int(tier_options("web")[("aws:elbv2:loadbalancer", "IdleTimeout")])
    for directive in ("proxy_read_timeout", "proxy_send_timeout"):
        assert_chain([
            ("gunicorn timeout (web)", gunicorn["timeout"]),
            (f"nginx {directive} (server)", server.seconds(directive)),
            ("load balancer IdleTimeout", idle),
        ], strict=False)
    # The load balancer must drop an idle connection before nginx does, or it can send a request
    # down a connection nginx is closing and answer 502.
    assert idle < platform_keepalive_seconds()


@pytest.mark.parametrize("option, attribute", [
    ("VisibilityTimeout", "VisibilityTimeout"),
    ("RetentionPeriod", "MessageRetentionPeriod"),
])
def test_the_queue_itself_agrees_with_sqsd(option, attribute):
    # sqsd overrides the visibility timeout per receive, but other readers (the dead-letter
    # monitor, an operator's console) see the queue's own value.
    queue = cloudformation_template()["Resources"]["JobsQueue"]["Properties"]
    assert int(queue[attribute]) == int(tier_options("worker")[("aws:elasticbeanstalk:sqsd", option)])
