"""The deployment files, read the way Elastic Beanstalk and its daemons read them."""
from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from core.jobs.sqsd_paths import JOBS_PATH, TASKS_PREFIX
from core.jobs.types import JOB_TYPES
from devstack.ebconfig import load_cron, load_sqsd_settings

ROOT = Path(__file__).resolve().parent.parent
PROCFILE_LINE = re.compile(r"^[A-Za-z0-9_-]+:\s*[^\s].*$")  # what EB accepts


def gunicorn_settings(monkeypatch: pytest.MonkeyPatch, role: str) -> dict:
    for name in ("GUNICORN_TIMEOUT", "GUNICORN_WORKERS", "GUNICORN_THREADS", "PORT", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("APP_ROLE", role)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def nginx_seconds(directive: str) -> int:
    text = "\n".join(p.read_text() for p in sorted((ROOT / ".platform/nginx").rglob("*.conf")))
    values = re.findall(rf"^\s*{directive}\s+(\d+)s?;", text, flags=re.M)
    assert len(values) == 1, f"{directive} must be set exactly once under .platform/nginx"
    return int(values[0])


def test_procfile_has_one_web_line_starting_gunicorn_with_its_config():
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert all(PROCFILE_LINE.match(line) for line in lines)
    assert len(lines) == 1 and lines[0].startswith("web:")
    assert re.search(r"gunicorn\s+--config\s+gunicorn.conf.py", lines[0])


def test_gunicorn_listens_on_port_8000_where_the_platform_nginx_proxies(monkeypatch):
    for role in ("web", "worker"):
        assert gunicorn_settings(monkeypatch, role)["bind"] == "127.0.0.1:8000"


def test_the_worker_http_path_is_the_one_the_worker_serves():
    assert load_sqsd_settings(ROOT).http_path == JOBS_PATH


def test_cron_tasks_post_under_the_tasks_prefix():
    tasks = load_cron(ROOT)
    assert tasks and all(task.url.startswith(TASKS_PREFIX + "/") for task in tasks)


def test_the_worker_timeout_chain_holds(monkeypatch):
    """job time limit < gunicorn timeout < nginx proxy_read_timeout < InactivityTimeout < VisibilityTimeout"""
    sqsd = load_sqsd_settings(ROOT)
    gunicorn = gunicorn_settings(monkeypatch, "worker")
    assert gunicorn["worker_class"] == "sync", "only sync workers enforce the timeout on a busy worker"
    chain = [
        ("longest job time limit", max(t.time_limit_seconds for t in JOB_TYPES.values())),
        ("gunicorn timeout", gunicorn["timeout"]),
        ("nginx proxy_read_timeout", nginx_seconds("proxy_read_timeout")),
        ("sqsd InactivityTimeout", sqsd.inactivity_timeout),
        ("sqsd VisibilityTimeout", sqsd.visibility_timeout),
    ]
    for (low_name, low), (high_name, high) in zip(chain, chain[1:]):
        assert low < high, f"{low_name} ({low}) must be below {high_name} ({high})"
    # A lease must outlive the time limit, or a slow run would be reclaimed while allowed to go on.
    assert all(t.lease.total_seconds() > t.time_limit_seconds for t in JOB_TYPES.values())


def test_the_web_timeout_chain_holds(monkeypatch):
    """gunicorn timeout <= nginx timeouts (the load balancer's idle timeout is checked in issue 5's config)"""
    assert gunicorn_settings(monkeypatch, "web")["timeout"] <= nginx_seconds("proxy_read_timeout")
