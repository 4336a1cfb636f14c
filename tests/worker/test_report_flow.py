"""A roster report through the whole in-process path: API → SQS (moto) → worker → S3 → API."""
from __future__ import annotations

import csv
import io
import uuid
from urllib.parse import urlparse

import pytest

from core.app import Services
from core.models import Job
from core.reports import ROSTER_COLUMNS, roster_rows
from tests import factories
from tests.sqsd import deliver, pump


@pytest.fixture
def roster(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    group, students = factories.school_class(db, teacher, students=31)
    outsider = factories.user(db, school, "student")  # not enrolled: must not appear
    db.commit()
    return teacher, group, students, outsider


def test_a_roster_report_runs_and_its_csv_matches_the_class(client, worker_client, web_app, db, sqs, aws, roster):
    teacher, group, students, outsider = roster
    headers = factories.login(client, teacher)
    accepted = client.post("/api/reports", json={"kind": "class_roster", "class_id": group.id, "format": "csv"},
                           headers=headers)
    assert accepted.status_code == 202
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]

    polled = client.get(accepted.headers["Location"], headers=headers)
    job = polled.get_json()["job"]
    assert job["state"] == "succeeded" and job["progress"] == 100 and job["attempts"] == 1
    assert job["result"]["rows"] == 31 and job["result"]["download_url"] == f"/api/jobs/{job['id']}/download"
    assert "Retry-After" not in polled.headers

    download = client.get(job["result"]["download_url"], headers=headers)
    assert download.status_code == 302
    location = urlparse(download.headers["Location"])
    assert location.path.endswith(".csv") and "Signature" in location.query  # a presigned S3 URL

    row = db.get(Job, uuid.UUID(job["id"]))
    data = web_app.extensions["aula"].storage.get(row.result["file_key"]).decode()
    lines = list(csv.reader(io.StringIO(data)))
    assert tuple(lines[0]) == ROSTER_COLUMNS
    expected = [[str(c) for c in r] for r in roster_rows(db, group.id)]
    assert lines[1:] == expected
    assert sorted(int(r[0]) for r in lines[1:]) == sorted(s.id for s in students)
    assert str(outsider.id) not in {r[0] for r in lines[1:]}


def test_only_the_owner_can_download(client, worker_client, db, sqs, aws, roster):
    teacher, group, _, _ = roster
    colleague = factories.user(db, teacher.institution, "teacher")
    db.commit()
    headers = factories.login(client, teacher)
    job_url = client.post("/api/reports", json={"kind": "class_roster", "class_id": group.id, "format": "csv"},
                          headers=headers).headers["Location"]
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client)
    other = factories.login(client, colleague)
    assert client.get(job_url + "/download", headers=other).status_code == 404
    assert client.get(job_url + "/download").status_code == 401
    assert client.get(job_url + "/download", headers=headers).status_code == 302


def test_download_before_the_job_finished_is_409(client, db, roster):
    teacher, group, _, _ = roster
    headers = factories.login(client, teacher)
    job_url = client.post("/api/reports", json={"kind": "class_roster", "class_id": group.id, "format": "csv"},
                          headers=headers).headers["Location"]
    response = client.get(job_url + "/download", headers=headers)
    assert response.status_code == 409 and "queued" in response.get_json()["error"]


def test_a_redelivered_report_job_stores_one_file(worker_app, worker_client, client, db, sqs, aws, roster):
    teacher, group, _, _ = roster
    headers = factories.login(client, teacher)
    client.post("/api/reports", json={"kind": "class_roster", "class_id": group.id, "format": "csv"}, headers=headers)
    message = sqs.receive_message(QueueUrl=aws["SQS_QUEUE_URL"])["Messages"][0]

    assert deliver(worker_client, message["Body"]).status_code == 200
    assert deliver(worker_client, message["Body"], receive_count=2).status_code == 200
    services: Services = worker_app.extensions["aula"]
    keys = services.storage.s3.list_objects_v2(Bucket=aws["S3_BUCKET"]).get("Contents", [])
    assert len(keys) == 1
