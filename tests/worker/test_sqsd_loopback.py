"""The worker's second wall: sqsd POSTs from the instance itself, so the sqsd paths answer only
loopback callers, also when something on the instance (nginx) forwards a request from elsewhere.
nginx refuses other callers first (tests/deploy/test_nginx_sqsd_loopback.py)."""
from __future__ import annotations

import pytest

from core.jobs.envelope import Envelope
from core.jobs.sqsd_paths import JOBS_PATH
from core.models import Job
from tests.sqsd import sqsd_headers

RELAY = "/sqsd/tasks/relay-outbox"


def post(worker_client, path: str, remote_addr: str = "127.0.0.1", body: bytes = b"", **headers: str):
    return worker_client.post(path, data=body, headers={**sqsd_headers(), "Content-Type": "application/json", **headers},
                              environ_base={"REMOTE_ADDR": remote_addr})


def assert_refused(response) -> None:
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.is_json and "loopback" in response.get_json()["error"]


@pytest.mark.parametrize("remote_addr", ["10.0.0.5", "172.31.5.9", "::ffff:10.0.0.5", "2001:db8::1"])
def test_a_caller_from_another_address_is_refused(worker_client, remote_addr):
    assert_refused(post(worker_client, RELAY, remote_addr))


@pytest.mark.parametrize(("header", "value"), [
    ("X-Forwarded-For", "10.0.0.5"),                 # nginx appends the real client: "<client>"
    ("X-Forwarded-For", "127.0.0.1, 10.0.0.5"),      # a made-up loopback entry does not help
    ("X-Forwarded-For", "10.0.0.5, 127.0.0.1"),      # what nginx sends for a forged header
    ("X-Forwarded-For", "not-an-address"),
    ("X-Real-IP", "10.0.0.5"),
    ("X-Real-IP", ""),
])
def test_a_request_forwarded_from_elsewhere_is_refused(worker_client, header, value):
    assert_refused(post(worker_client, RELAY, "127.0.0.1", **{header: value}))


def test_a_refused_job_message_is_not_even_read(worker_client, db, probe, make_job):
    job = make_job()
    body = Envelope(job_id=job.id, type=job.type, trace_id="t").to_json().encode()
    assert_refused(post(worker_client, JOBS_PATH, "10.0.0.5", body))
    db.expire_all()
    row = db.get(Job, job.id)
    assert (row.state, row.attempts) == ("queued", 0) and probe.runs == 0


@pytest.mark.parametrize("path", ["/sqsd/no-such-thing", "/sqsd", "//sqsd/jobs", "/sqsd//tasks/relay-outbox"])
def test_other_spellings_and_unknown_paths_under_the_prefix_are_refused_too(worker_client, path):
    # Set as PATH_INFO itself: the test client would read "//sqsd/jobs" as host "sqsd", path "/jobs".
    response = worker_client.post("/", data=b"", headers=sqsd_headers(),
                                  environ_overrides={"REMOTE_ADDR": "10.0.0.5", "PATH_INFO": path})
    assert_refused(response)


@pytest.mark.parametrize("remote_addr", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_loopback_callers_are_served(worker_client, remote_addr):
    response = post(worker_client, RELAY, remote_addr)
    assert response.status_code == 200 and response.get_json()["task"] == "relay-outbox"


def test_requests_through_nginx_on_the_instance_are_served(worker_client):
    # What the platform's nginx sends for sqsd's own POST: loopback in both headers.
    response = post(worker_client, RELAY, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"})
    assert response.status_code == 200


def test_the_health_check_is_not_behind_the_wall(worker_client):
    response = worker_client.get("/healthz", environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert response.status_code == 200


def test_the_connecting_address_counts_even_behind_proxy_fix(worker_app):
    # ProxyFix would make request.remote_addr the forged header's value; the peer is still 10.0.0.5.
    from werkzeug.middleware.proxy_fix import ProxyFix

    worker_app.wsgi_app = ProxyFix(worker_app.wsgi_app, x_for=1)
    client = worker_app.test_client()
    assert_refused(post(client, RELAY, "10.0.0.5", **{"X-Forwarded-For": "127.0.0.1"}))
    assert post(client, RELAY, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1"}).status_code == 200
