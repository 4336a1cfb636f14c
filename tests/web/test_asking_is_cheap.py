"""Coalescing and quotas: an identical request in progress returns that job (200, not a new
202); beyond the per-user cap the API answers 429 with Retry-After and changes nothing."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.models import Job
from tests import factories

REPORT = {"kind": "class_roster", "format": "csv"}


@pytest.fixture
def teacher(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    classes = [factories.school_class(db, teacher, students=1)[0] for _ in range(7)]
    db.commit()
    return teacher, classes


def _ask(client, headers, class_id):
    return client.post("/api/reports", json={**REPORT, "class_id": class_id}, headers=headers)


def test_an_identical_request_in_progress_returns_the_existing_job(client, db, teacher):
    person, classes = teacher
    headers = factories.login(client, person)
    first = _ask(client, headers, classes[0].id)
    second = _ask(client, headers, classes[0].id)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.get_json()["job"]["id"] == first.get_json()["job"]["id"]
    assert second.headers["Location"] == first.headers["Location"]
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 1


def test_once_finished_the_same_request_makes_a_new_job(client, db, teacher):
    person, classes = teacher
    headers = factories.login(client, person)
    first = _ask(client, headers, classes[0].id).get_json()["job"]["id"]
    db.execute(sa.update(Job).values(state="succeeded"))
    db.commit()
    again = _ask(client, headers, classes[0].id)
    assert again.status_code == 202 and again.get_json()["job"]["id"] != first


def test_identical_requests_racing_each_other_make_one_job(web_app, db, teacher):
    person, classes = teacher
    headers = factories.login(web_app.test_client(), person)
    barrier = threading.Barrier(4)
    answers: list[tuple[int, str]] = []

    def ask() -> None:
        client = web_app.test_client()
        barrier.wait(timeout=10)
        response = _ask(client, headers, classes[0].id)
        answers.append((response.status_code, response.get_json()["job"]["id"]))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(code for code, _ in answers) == [200, 200, 200, 202]
    assert len({job_id for _, job_id in answers}) == 1
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 1


def test_beyond_the_cap_the_answer_is_429_with_retry_after_and_nothing_is_created(client, db, teacher):
    person, classes = teacher
    headers = factories.login(client, person)
    for group in classes[:5]:  # the default cap is 5 requests in flight
        assert _ask(client, headers, group.id).status_code == 202
    refused = _ask(client, headers, classes[5].id)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "5 requests in progress" in refused.get_json()["error"]
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 5
    # An identical request is still answered with its job, even at the cap.
    assert _ask(client, headers, classes[0].id).status_code == 200
    # Finishing one frees a place.
    db.execute(sa.update(Job).where(Job.payload["class_id"].as_integer() == classes[0].id).values(state="failed"))
    db.commit()
    assert _ask(client, headers, classes[5].id).status_code == 202


def test_the_cap_is_per_user(client, db, teacher):
    person, classes = teacher
    headers = factories.login(client, person)
    for group in classes[:5]:
        _ask(client, headers, group.id)
    colleague = factories.user(db, person.institution, "teacher")
    own_class, _ = factories.school_class(db, colleague, students=1)
    db.commit()
    assert _ask(client, factories.login(client, colleague), own_class.id).status_code == 202
