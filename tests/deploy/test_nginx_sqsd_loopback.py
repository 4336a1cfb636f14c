"""`/sqsd/` through the real nginx: only loopback callers reach the worker app.

sqsd POSTs from the instance itself, so nginx refuses every other caller (`allow 127.0.0.1;
allow ::1; deny all;`), and the worker app refuses them once more (worker/loopback.py). Here
Debian's nginx runs our `.platform/nginx` inside the copy of the platform's configuration
(platform_nginx.py), listening on 127.0.0.1 and proxying to the real worker app (SQLite or
PostgreSQL, moto) served by werkzeug in a thread. Linux routes the whole 127.0.0.0/8 to the
loopback interface, so a client bound to 127.0.0.2 is "another host" as far as nginx can tell.
"""
from __future__ import annotations

import errno
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.deploy.conftest import skip_unless_ci
from tests.deploy.files import ROOT, nginx_server_context
from tests.deploy.platform_nginx import build_serving
from tests.sqsd import sqsd_headers

PLATFORM_NGINX = ROOT / ".platform/nginx"
RELAY = "/sqsd/tasks/relay-outbox"
OUTSIDER = "127.0.0.2"  # any loopback address but 127.0.0.1 stands for a caller from elsewhere
START_SECONDS = 10
REQUEST_SECONDS = 10


@dataclass
class Backend:
    port: int
    seen: list[dict[str, str | None]] = field(default_factory=list)  # what reached the worker app


@dataclass
class Proxy:
    port: int
    backend: Backend
    error_log: Path


@pytest.fixture(scope="module")
def outsider_address() -> str:
    with socket.socket() as probe:
        try:
            probe.bind((OUTSIDER, 0))
        except OSError as exc:  # macOS configures 127.0.0.1 only
            skip_unless_ci(f"cannot use {OUTSIDER} as a source address here ({exc}); Linux can")
    return OUTSIDER


@pytest.fixture
def backend(worker_app) -> Iterator[Backend]:
    """The real worker app on a free port, recording each request it receives."""
    recorded = Backend(port=0)

    def recording(environ, start_response):
        recorded.seen.append({"path": environ.get("PATH_INFO"), "remote_addr": environ.get("REMOTE_ADDR"),
                              "x_forwarded_for": environ.get("HTTP_X_FORWARDED_FOR"),
                              "x_real_ip": environ.get("HTTP_X_REAL_IP")})
        return worker_app(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, threaded=True)
    recorded.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, name="worker-backend", daemon=True)
    thread.start()
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(process: subprocess.Popen, port: int, error_log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited with {process.returncode}: {error_log.read_text() if error_log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError as exc:
            if exc.errno not in (errno.ECONNREFUSED, None):
                raise
            time.sleep(0.05)
    pytest.fail(f"nginx did not listen on 127.0.0.1:{port} within {START_SECONDS} s")


def _stop(process: subprocess.Popen) -> None:
    """nginx's fast shutdown (SIGTERM to the master), then SIGKILL to its own process group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def running_nginx(nginx: str, backend: Backend, prefix: Path) -> Iterator[Proxy]:
    """Our nginx configuration, running on 127.0.0.1:<free port> in front of `backend`; stopped
    on the way out, whatever happened inside."""
    port = _free_port()
    conf = build_serving(prefix, PLATFORM_NGINX, f"127.0.0.1:{port}", backend.port)
    error_log = prefix / "logs/error.log"
    # As root, nginx's workers would otherwise run as `nobody`, who cannot enter pytest's tmp dir.
    globals_ = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    process = subprocess.Popen([nginx, "-p", f"{prefix}/", "-c", str(conf), "-e", str(error_log), "-g", globals_],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        _wait_until_listening(process, port, error_log)
        yield Proxy(port=port, backend=backend, error_log=error_log)
    finally:
        _stop(process)
        if process.stderr:
            process.stderr.close()


@pytest.fixture
def proxy(nginx: str, backend: Backend, tmp_path: Path) -> Iterator[Proxy]:
    with running_nginx(nginx, backend, tmp_path / "nginx") as running:
        yield running


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


def call(proxy: Proxy, path: str, source: str = "127.0.0.1", method: str = "POST",
         headers: dict[str, str] | None = None) -> Answer:
    """One request to nginx from `source`, the way sqsd sends a periodic task (empty body)."""
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=REQUEST_SECONDS, source_address=(source, 0))
    try:
        connection.request(method, path, body=b"" if method == "POST" else None,
                           headers={"Host": "localhost", **(headers or {})})
        response = connection.getresponse()
        return Answer(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        connection.close()


def task_headers(name: str = "relay-outbox") -> dict[str, str]:
    return {**sqsd_headers(), "X-Aws-Sqsd-Taskname": name, "X-Aws-Sqsd-Scheduled-At": "2026-01-01T00:00:00Z"}


def test_the_sqsd_location_allows_loopback_only_in_that_order():
    # nginx applies allow/deny rules in order, first match wins: the deny must come last.
    location = nginx_server_context().block("location", "^~", "/sqsd/")
    rules = [(name, args) for name, args in location.directives if name in ("allow", "deny")]
    assert rules == [("allow", ["127.0.0.1"]), ("allow", ["::1"]), ("deny", ["all"])]


@pytest.mark.parametrize("path", [
    RELAY,
    "/sqsd/jobs",
    # nginx matches locations on the normalised path, so spelling it differently does not get past:
    "//sqsd/jobs", "/%73qsd/jobs", "/sqsd/../sqsd/jobs", "/static/../sqsd/tasks/relay-outbox",
])
def test_a_post_from_another_address_is_refused_by_nginx_and_never_reaches_the_app(proxy, outsider_address, path):
    answer = call(proxy, path, source=outsider_address, headers=task_headers())
    assert answer.status == 403, answer
    assert b"nginx" in answer.body and "json" not in answer.content_type, "refused by nginx, not the app"
    assert proxy.backend.seen == []
    assert f"client: {outsider_address}" in proxy.error_log.read_text()  # "access forbidden by rule"


def test_the_other_address_does_reach_nginx_and_the_rest_of_the_app(proxy, outsider_address):
    # So the refusal above is the allow/deny rule, not an address nginx cannot be reached from.
    answer = call(proxy, "/healthz", source=outsider_address, method="GET")
    assert answer.status == 200 and b'"role":"worker"' in answer.body.replace(b" ", b"")
    assert proxy.backend.seen[-1]["remote_addr"] == "127.0.0.1"
    assert proxy.backend.seen[-1]["x_forwarded_for"] == proxy.backend.seen[-1]["x_real_ip"] == outsider_address


def test_a_post_from_the_instance_itself_reaches_the_worker_app(proxy):
    answer = call(proxy, RELAY, headers=task_headers())
    assert answer.status == 200, answer
    assert b'"task":"relay-outbox"' in answer.body.replace(b" ", b"")
    (seen,) = proxy.backend.seen
    assert seen == {"path": RELAY, "remote_addr": "127.0.0.1", "x_forwarded_for": "127.0.0.1", "x_real_ip": "127.0.0.1"}


def test_a_forwarded_for_header_made_up_on_the_instance_is_refused_by_the_app(proxy):
    # nginx lets 127.0.0.1 through and appends it: "10.0.0.5, 127.0.0.1"; the app's wall refuses.
    answer = call(proxy, RELAY, headers={**task_headers(), "X-Forwarded-For": "10.0.0.5"})
    assert answer.status == 403 and "json" in answer.content_type and b"loopback" in answer.body
    assert proxy.backend.seen[-1]["x_forwarded_for"] == "10.0.0.5, 127.0.0.1"


def test_nginx_is_stopped_even_when_a_test_fails_inside(nginx, backend, tmp_path):
    # The fixture's cleanup, checked: after a failure inside, nothing listens on its port.
    with pytest.raises(AssertionError, match="inside"), running_nginx(nginx, backend, tmp_path / "nginx") as running:
        assert call(running, "/healthz", method="GET").status == 200
        raise AssertionError("a failure inside")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1).close()

