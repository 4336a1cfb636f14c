"""End to end over HTTP against the real processes of the local stack: moto in server mode,
gunicorn web and worker tiers, and the local sqsd, started with the same commands `make run`
uses (devstack.run), on free ports and a throw-away SQLite file."""
from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests
import sqlalchemy as sa

from core.jobs.types import EMAIL_CHUNK_SIZE
from devstack.run import ROOT
from tests.support.servers import free_port, wait_for_http
from tests.support.stack import BOOT_TIMEOUT, Stack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path) as started:
        yield started


def _login(stack: Stack, email: str, password: str) -> dict[str, str]:
    response = requests.post(stack.web + "/api/login", json={"email": email, "password": password}, timeout=10)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _teacher_class(stack: Stack) -> int:
    with stack.engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT c.id FROM classes c JOIN users u ON u.id = c.teacher_id WHERE u.email = 'teacher@aula.local'"
        )).scalar_one()


def _poll(stack: Stack, location: str, headers: dict[str, str], timeout: float = 45) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = requests.get(stack.web + location, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        job = response.json()["job"]
        if job["state"] in ("succeeded", "failed", "cancelled"):
            assert "Retry-After" not in response.headers
            return job
        assert int(response.headers["Retry-After"]) >= 1
        assert time.monotonic() < deadline, f"job still {job['state']} after {timeout}s"
        time.sleep(0.2)


def _roster_from_db(stack: Stack, class_id: int) -> list[list[str]]:
    with stack.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT u.id, u.full_name, u.email FROM enrollments e JOIN users u ON u.id = e.student_id "
            "WHERE e.class_id = :c ORDER BY u.full_name, u.id"), {"c": class_id}).all()
    return [[str(r.id), r.full_name, r.email] for r in rows]


def _request_report(stack: Stack, headers: dict[str, str], class_id: int) -> str:
    response = requests.post(stack.web + "/api/reports", headers=headers, timeout=10,
                             json={"kind": "class_roster", "class_id": class_id, "format": "csv"})
    assert response.status_code == 202, response.text
    return response.headers["Location"]


def test_a_teacher_asks_for_a_roster_polls_it_and_downloads_the_csv(stack: Stack):
    headers = _login(stack, "teacher@aula.local", "aula-teacher")
    class_id = _teacher_class(stack)
    location = _request_report(stack, headers, class_id)

    job = _poll(stack, location, headers)
    assert job["state"] == "succeeded", job
    assert job["attempts"] == 1 and job["progress"] == 100

    # Once finished, polling with the ETag costs a 304.
    first = requests.get(stack.web + location, headers=headers, timeout=10)
    again = requests.get(stack.web + location, headers={**headers, "If-None-Match": first.headers["ETag"]}, timeout=10)
    assert again.status_code == 304

    download = requests.get(stack.web + job["result"]["download_url"], headers=headers, timeout=10)
    assert download.status_code == 200 and download.history[0].status_code == 302
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8"))))
    assert rows[0] == ["student_id", "full_name", "email", "enrolled_at"]
    expected = _roster_from_db(stack, class_id)
    assert len(expected) >= 30
    assert [r[:3] for r in rows[1:]] == expected

    other = _login(stack, "teacher2@aula.local", "aula-teacher")
    assert requests.get(stack.web + location, headers=other, timeout=10).status_code == 404
    assert requests.get(stack.web + job["result"]["download_url"], headers=other, timeout=10).status_code == 404


def test_a_worker_that_goes_down_and_comes_back_ends_with_exactly_one_finished_job(stack: Stack):
    headers = _login(stack, "teacher@aula.local", "aula-teacher")
    class_id = _teacher_class(stack)
    stack.stop("worker", signal.SIGKILL)
    location = _request_report(stack, headers, class_id)
    # sqsd's POSTs now fail (connection refused): the message must come back, not be lost.
    time.sleep(2.5)
    assert requests.get(stack.web + location, headers=headers, timeout=10).json()["job"]["state"] == "queued"
    stack.start("worker")
    job = _poll(stack, location, headers)
    assert job["state"] == "succeeded" and job["attempts"] == 1

    with stack.engine.connect() as conn:
        finished = conn.execute(sa.text(
            "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND type = 'report'")).scalar_one()
    assert finished == 1
    s3 = boto3.client("s3", endpoint_url=stack.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    objects = s3.list_objects_v2(Bucket=stack.env["S3_BUCKET"], Prefix=f"reports/{job['id']}/").get("Contents", [])
    assert len(objects) == 1


def _ses_at_moto(stack: Stack) -> tuple[int, Counter[str]]:
    """What moto's SES accepted so far: SES's own count, and each recipient's messages."""
    ses = boto3.client("ses", endpoint_url=stack.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    count = int(ses.get_send_quota()["SentLast24Hours"])
    data = requests.get(stack.env["AWS_ENDPOINT_URL"] + "/moto-api/data.json", timeout=30).json()
    messages = data.get("ses", {}).get("Message", [])
    return count, Counter(to for m in messages for to in m["destinations"].get("ToAddresses", []))


def _summary(stack: Stack, activity_id: int) -> str | None:
    with stack.engine.connect() as conn:
        return conn.execute(sa.text("SELECT title FROM notifications WHERE dedupe_key = :k"),
                            {"k": f"activity-summary:{activity_id}"}).scalar()


def test_publishing_emails_every_student_once_through_the_real_queue_and_sqsd(stack: Stack):
    headers = _login(stack, "teacher@aula.local", "aula-teacher")
    class_id = _teacher_class(stack)
    with stack.engine.connect() as conn:
        students = set(conn.execute(sa.text(
            "SELECT u.email FROM enrollments e JOIN users u ON u.id = e.student_id WHERE e.class_id = :c"),
            {"c": class_id}).scalars())
    before, _ = _ses_at_moto(stack)

    response = requests.post(stack.web + f"/api/classes/{class_id}/activities", headers=headers, timeout=10,
                             json={"title": "Lista e2e", "description": "Exercícios"})
    assert response.status_code == 202, response.text
    activity_id = response.json()["activity"]["id"]
    deadline = time.monotonic() + 60
    while (summary := _summary(stack, activity_id)) is None:
        assert time.monotonic() < deadline, "no teacher summary within 60 s"
        time.sleep(0.3)

    n = len(students)
    assert summary == f"Activity 'Lista e2e': emailed {n} of {n} students"
    count, recipients = _ses_at_moto(stack)
    assert count - before == n and {address: recipients[address] for address in students} == dict.fromkeys(students, 1)
    with stack.engine.connect() as conn:
        effects = conn.execute(sa.text("SELECT count(*) FROM effects WHERE key LIKE :k"),
                               {"k": f"email:activity:{activity_id}:student:%"}).scalar_one()
        chunks = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE type = 'email_chunk' AND state = 'succeeded' "
                                      "AND batch_id = (SELECT id FROM batches WHERE key = :k)"),
                              {"k": f"activity:{activity_id}:emails"}).scalar_one()
    assert effects == n and chunks == -(-n // EMAIL_CHUNK_SIZE)


def test_make_run_serves_healthz_and_stops_cleanly_on_ctrl_c(tmp_path: Path):
    env = {
        **os.environ,
        "AULA_MOTO_PORT": str(free_port()),
        "AULA_WEB_PORT": str(free_port()),
        "AULA_WORKER_PORT": str(free_port()),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'aula.sqlite3'}",
        "GUNICORN_WORKERS": "1",
        "AULA_UP_FILE": str(tmp_path / "aula-up.txt"),
    }
    (tmp_path / "aula-up.txt").write_text("left by an earlier run\n")
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115  (the stack writes to it until the finally below)
    process = subprocess.Popen([sys.executable, "-m", "devstack.run"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{env['AULA_WEB_PORT']}/healthz", BOOT_TIMEOUT)
        health = requests.get(f"http://127.0.0.1:{env['AULA_WEB_PORT']}/healthz", timeout=5).json()
        assert health["status"] == "ok" and health["role"] == "web"
        deadline = time.monotonic() + 120  # the banner waits for the demo seed workflow
        while b"Aula is up" not in (tmp_path / "run.log").read_bytes():
            assert time.monotonic() < deadline, "no ready banner"
            time.sleep(0.2)
        # The banner is kept for `python -m devstack.run info`, which finds the stack answering.
        info = subprocess.run([sys.executable, "-m", "devstack.run", "info"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=30, check=False)
        assert info.returncode == 0 and "Aula is up" in info.stdout and "teacher@aula.local" in info.stdout
        assert "earlier run" not in info.stdout and "does not answer" not in info.stdout
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{env['AULA_WEB_PORT']}/healthz", timeout=2)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()
    banner = (tmp_path / "run.log").read_text(errors="replace")
    assert "teacher@aula.local" in banner and "aula-teacher" in banner
