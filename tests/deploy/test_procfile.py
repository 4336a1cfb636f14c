"""The Procfile, read the way Elastic Beanstalk reads it, and its command run for real."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.deploy.files import ROOT

# What the platform accepts on each line (eb-worker-facts.md section 3): "name: command".
PROCFILE_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>[^\s].*)$")


def processes(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = PROCFILE_LINE.match(line)
        assert match, f"Procfile line {number} is not `name: command`: {line!r}"
        assert match["name"] not in found, f"Procfile names {match['name']!r} twice"
        found[match["name"]] = match["command"]
    return found


def test_one_web_process_that_starts_gunicorn_with_its_config():
    # `web` is the process the platform's nginx proxies to; both tiers run this same line.
    assert processes((ROOT / "Procfile").read_text(encoding="utf-8")) == {"web": "gunicorn --config gunicorn.conf.py"}


def test_the_reader_refuses_what_the_platform_refuses():
    for bad in ("web gunicorn", "web:", "web: gunicorn\nweb: gunicorn", "we b: gunicorn", "\nweb: gunicorn"):
        try:
            processes(bad)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_procfile_command_serves_the_app_and_logs_json_lines(tmp_path: Path):
    command = shlex.split(processes((ROOT / "Procfile").read_text())["web"])
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # the app's venv, as on EB
        "APP_ROLE": "web", "PORT": str(port), "GUNICORN_WORKERS": "1", "SECRET_KEY": "procfile-test-secret-key-0123456789ab",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'aula.sqlite3'}", "SQS_QUEUE_URL": "http://127.0.0.1:9/queue",
        "S3_BUCKET": "unused", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
    }
    for name in ("GUNICORN_BIND", "CLOUDWATCH_LOG_GROUP", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    log = tmp_path / "stdout.log"
    with log.open("w") as stdout:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-Id": "from-the-lb-42"})
                    with urllib.request.urlopen(request, timeout=5) as response:
                        status, request_id = response.status, response.headers["X-Request-Id"]
                    break
                except OSError:
                    assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.2)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    assert (status, request_id) == (200, "from-the-lb-42")
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    assert all({"timestamp", "level", "logger", "message", "role"} <= set(line) for line in lines)
    assert {line["role"] for line in lines} == {"web"}
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert access and access[-1]["request_id"] == "from-the-lb-42" and '"GET /healthz' in access[-1]["message"]
    assert any(line["message"].startswith("Worker exiting") for line in lines)
