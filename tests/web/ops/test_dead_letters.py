"""/api/ops/dead-letters and /ops/dead-letters: a bounded, cached peek grouped by job type and error
(admins their institution's jobs only), the depth over the last day, redrive of chosen jobs or of
all (operators; audited; the job then runs), purge after a confirmed count (once a minute), and a
stack without a dead-letter queue."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs.deadletters import DEAD_LETTER_NOTE, PURGED_NOTE
from core.jobs.outbox import envelope_for
from core.models import Job
from core.models.ops import AuditEntry, JobAttempt, QueueSample
from tests import factories
from tests.sqsd import pump
from tests.web.pages.helpers import csrf_token, page_login
from web.common.ops import deadletters

URL = "/api/ops/dead-letters"


@pytest.fixture(autouse=True)
def _fresh_looks():
    """Each test's queues are new: no look cached by an earlier test."""
    deadletters._cache.clear()
    yield
    deadletters._cache.clear()


def _job(db, owner, state="retrying", error="SES throttled", job_type="canary") -> Job:
    job = Job(id=uuid.uuid4(), type=job_type, owner_id=owner.id if owner else None, state=state, payload={},
              error=error, published_at=utcnow())
    db.add(job)
    db.commit()
    return job


def _dead(sqs, aws, *bodies: str, attributes: dict | None = None) -> None:
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], Entries=[
            {"Id": str(k), "MessageBody": body, **({"MessageAttributes": attributes} if attributes else {})}
            for k, body in enumerate(bodies[start:start + 10])])


def _body(job: Job) -> str:
    return envelope_for(job).to_json()


def _groups(answer: dict) -> dict[tuple[str, str | None], dict]:
    return {(g["kind"], g["type"]): g for g in answer["groups"]}


def test_who_may_look_and_who_may_act(client, staff):
    assert client.get(URL).status_code == 401
    for person in (staff.student_a, staff.teacher_a):
        assert client.get(URL, headers=factories.login(client, person)).status_code == 403
    admin = factories.login(client, staff.admin_a)
    assert client.get(URL, headers=admin).status_code == 200
    assert client.post(URL + "/redrive", json={"all": True}, headers=admin).status_code == 403
    assert client.post(URL + "/purge", json={"expected_count": 0}, headers=admin).status_code == 403
    teacher = factories.login(client, staff.teacher_a)
    assert client.post(URL + "/redrive", json={"all": True}, headers=teacher).status_code == 403


def test_messages_are_grouped_by_type_and_error_and_an_admin_sees_only_their_institutions(client, db, sqs, aws,
                                                                                          staff):
    throttled = [_job(db, staff.teacher_a) for _ in range(2)]
    marked = _job(db, staff.teacher_a, state="queued", error=DEAD_LETTER_NOTE)
    db.add(JobAttempt(job_id=marked.id, attempt=1, started_at=utcnow(), finished_at=utcnow(), outcome="failed",
                      error="worker killed by the time limit"))
    db.commit()
    theirs = _job(db, staff.teacher_b)
    unknown = uuid.uuid4()
    _dead(sqs, aws, *(_body(j) for j in (*throttled, marked, theirs)),
          f'{{"v": 1, "job_id": "{unknown}", "type": "canary", "trace_id": ""}}', "not json at all")
    _dead(sqs, aws, "elasticbeanstalk scheduled job", attributes={
        "beanstalk.sqsd.task_name": {"DataType": "String", "StringValue": "retention"}})

    answer = client.get(URL, headers=factories.login(client, staff.operator)).get_json()
    assert answer["configured"] and answer["can_act"] and answer["peeked"] == 7 and answer["not_peeked"] == 0
    assert answer["depth"] == {"visible": 7, "in_flight": 0, "delayed": 0}
    groups = {(g["kind"], g["type"], g["error"]): g["count"] for g in answer["groups"]}
    assert groups == {("job", "canary", "SES throttled"): 3,
                      ("job", "canary", "worker killed by the time limit"): 1,
                      ("unknown_job", None, "no job row has this id (deleted by retention, or never committed)"): 1,
                      ("periodic_task", "retention", "a periodic task's run that sqsd could not deliver"): 1,
                      ("unparseable", None, "the body is not a job envelope"): 1}
    first = answer["groups"][0]
    assert first["error"] == "SES throttled", "the largest group first"
    assert {m["job"]["url"] for m in first["messages"]} == {f"/ops/jobs/{j.id}" for j in (*throttled, theirs)}

    deadletters._cache.clear()
    mine = client.get(URL, headers=factories.login(client, staff.admin_a)).get_json()
    assert not mine["can_act"]
    assert {(g["type"], g["error"], g["count"]) for g in mine["groups"]} == {
        ("canary", "SES throttled", 2), ("canary", "worker killed by the time limit", 1)}
    assert str(theirs.id) not in str(mine), "another institution's job is not shown"
    deadletters._cache.clear()
    other = client.get(URL, headers=factories.login(client, staff.admin_b)).get_json()
    assert [(g["type"], g["count"]) for g in other["groups"]] == [("canary", 1)]


def test_a_look_is_bounded_counts_the_rest_and_is_cached_a_few_seconds(client, sqs, aws, staff):
    _dead(sqs, aws, *(f"junk {k}" for k in range(deadletters.PEEK_LIMIT + 5)))
    auth = factories.login(client, staff.operator)
    answer = client.get(URL, headers=auth).get_json()
    assert answer["peeked"] == deadletters.PEEK_LIMIT and answer["not_peeked"] == 5
    _dead(sqs, aws, "one more")
    again = client.get(URL, headers=auth)
    assert again.get_json()["depth"]["visible"] == deadletters.PEEK_LIMIT + 5, "the cached look"
    assert again.headers["Retry-After"] and again.headers["ETag"]
    assert client.get(URL, headers={**auth, "If-None-Match": again.headers["ETag"]}).status_code == 304
    deadletters._cache.clear()
    assert client.get(URL, headers=auth).get_json()["depth"]["visible"] == deadletters.PEEK_LIMIT + 6


def test_the_last_days_depths_are_in_the_look(client, db, staff):
    now = utcnow()
    db.add_all([QueueSample(taken_at=now - timedelta(hours=h), queue=q, visible=h, in_flight=0, delayed=0)
                for h in (1, 2, 30) for q in ("main", "dead")])
    db.commit()
    samples = client.get(URL, headers=factories.login(client, staff.operator)).get_json()["samples"]
    assert [(s["queue"], s["visible"]) for s in samples] == [("dead", 2), ("main", 2), ("dead", 1), ("main", 1)]


def test_redriving_chosen_jobs_moves_theirs_the_job_runs_and_it_is_audited(client, db, sqs, aws, staff,
                                                                             worker_client):
    chosen, other = _job(db, staff.teacher_a, state="queued"), _job(db, staff.teacher_a, state="queued")
    _dead(sqs, aws, _body(chosen), _body(other), "junk")
    auth = factories.login(client, staff.operator)
    client.get(URL, headers=auth)  # a cached look, which the redrive must forget
    answer = client.post(URL + "/redrive", json={"job_ids": [str(chosen.id)]}, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"moved": 1, "requested": 1, "left": 2, "limit": deadletters.REDRIVE_LIMIT}
    assert client.get(URL, headers=auth).get_json()["peeked"] == 2
    assert pump(sqs, aws["SQS_QUEUE_URL"], worker_client) == [200]
    db.expire_all()
    assert db.get(Job, chosen.id).state == "succeeded" and db.get(Job, other.id).state == "queued"
    entry = db.scalar(sa.select(AuditEntry).where(AuditEntry.action == "dead_letters.redrive"))
    assert (entry.actor_id, entry.count, entry.target) == (staff.operator.id, 1, "jobs")
    assert entry.detail["job_ids"] == [str(chosen.id)]


def test_a_look_another_process_kept_is_not_used_after_a_redrive_and_is_again_once_it_settled(client, db, sqs,
                                                                                               aws, staff):
    moved = _job(db, staff.teacher_a, state="queued")
    _dead(sqs, aws, _body(moved), "junk")
    auth = factories.login(client, staff.operator)
    assert client.get(URL, headers=auth).get_json()["peeked"] == 2
    kept = dict(deadletters._cache)  # what a second gunicorn worker would still hold
    assert client.post(URL + "/redrive", json={"job_ids": [str(moved.id)]}, headers=auth).status_code == 200
    deadletters._cache.update(kept)
    assert client.get(URL, headers=auth).get_json()["peeked"] == 1, "the other process reads the queue again"
    # Once the action is ACTION_SETTLE_SECONDS older than a look, the look is kept as before.
    db.execute(sa.update(AuditEntry).values(created_at=utcnow() - timedelta(
        seconds=deadletters.ACTION_SETTLE_SECONDS + 1)))
    db.commit()
    client.get(URL, headers=auth)
    _dead(sqs, aws, "one more")
    assert client.get(URL, headers=auth).get_json()["peeked"] == 1, "the look kept a few seconds"


def test_redriving_all_moves_every_message(client, db, sqs, aws, staff):
    _dead(sqs, aws, _body(_job(db, staff.teacher_a)), "junk", "more junk")
    answer = client.post(URL + "/redrive", json={"all": True}, headers=factories.login(client, staff.operator))
    assert answer.get_json()["moved"] == 3 and answer.get_json()["left"] == 0
    entry = db.scalar(sa.select(AuditEntry).where(AuditEntry.action == "dead_letters.redrive"))
    assert entry.count == 3 and entry.detail["all"] is True


@pytest.mark.parametrize("body, field", [
    (None, "job_ids"), ({}, "job_ids"), ({"job_ids": "x"}, "job_ids"), ({"job_ids": []}, "job_ids"),
    ({"job_ids": ["not-a-uuid"]}, "job_ids"), ({"job_ids": [7]}, "job_ids"),
    ({"job_ids": [str(uuid.uuid4()) for _ in range(101)]}, "job_ids"), ({"all": "yes"}, "all"),
    ({"all": True, "job_ids": [str(uuid.uuid4())]}, "job_ids"),
])
def test_a_bad_redrive_is_a_400_naming_the_field(client, staff, body, field):
    auth = factories.login(client, staff.operator)
    answer = client.post(URL + "/redrive", json=body, headers=auth) if body is not None else \
        client.post(URL + "/redrive", data="[", headers={**auth, "Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.get_json()["field"] == field


def test_purge_needs_the_current_count_fails_open_jobs_and_only_once_a_minute(client, db, sqs, aws, staff):
    waiting = _job(db, staff.teacher_a, state="queued")
    _dead(sqs, aws, _body(waiting), "junk")
    auth = factories.login(client, staff.operator)
    for bad in ({}, {"expected_count": "2"}, {"expected_count": -1}, {"expected_count": True}):
        answer = client.post(URL + "/purge", json=bad, headers=auth)
        assert answer.status_code == 400 and answer.get_json()["field"] == "expected_count"
    stale = client.post(URL + "/purge", json={"expected_count": 5}, headers=auth)
    assert stale.status_code == 409 and stale.get_json()["count"] == 2
    answer = client.post(URL + "/purge", json={"expected_count": 2}, headers=auth)
    assert answer.status_code == 200 and answer.get_json() == {"purged": 2, "jobs_failed": 1}
    db.expire_all()
    row = db.get(Job, waiting.id)
    assert (row.state, row.error) == ("failed", PURGED_NOTE) and row.dead_lettered_at is not None
    entry = db.scalar(sa.select(AuditEntry).where(AuditEntry.action == "dead_letters.purge"))
    assert entry.count == 2 and entry.actor_id == staff.operator.id
    again = client.post(URL + "/purge", json={"expected_count": 0}, headers=auth)
    assert again.status_code == 429 and again.headers["Retry-After"] == "60"
    assert db.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                     .where(AuditEntry.action == "dead_letters.purge")) == 1, "a refused purge is not audited"


@pytest.fixture
def no_dlq_client(database_url, aws):
    from tests.conftest import _app

    app = _app("web", database_url, {k: v for k, v in aws.items() if k != "SQS_DEAD_LETTER_QUEUE_URL"})
    try:
        yield app.test_client()
    finally:
        app.extensions["aula"].close()


def test_without_a_dead_letter_queue_the_look_says_so_and_the_actions_are_409(no_dlq_client, staff):
    client = no_dlq_client
    auth = factories.login(client, staff.operator)
    answer = client.get(URL, headers=auth).get_json()
    assert answer["configured"] is False and "SQS_DEAD_LETTER_QUEUE_URL" in answer["message"]
    assert client.post(URL + "/redrive", json={"all": True}, headers=auth).status_code == 409
    assert client.post(URL + "/purge", json={"expected_count": 0}, headers=auth).status_code == 409
    page_login(client, staff.operator)
    page = client.get("/ops/dead-letters").get_data(as_text=True)
    assert "no dead-letter queue is configured" in page and 'id="purge-form"' not in page


def test_the_page_groups_and_its_forms_redrive_and_purge(client, db, sqs, aws, staff):
    job = _job(db, staff.teacher_a)
    _dead(sqs, aws, _body(job), "junk")
    page_login(client, staff.operator)
    html = client.get("/ops/dead-letters").get_data(as_text=True)
    assert f'href="/ops/jobs/{job.id}"' in html and "SES throttled" in html and 'id="purge-form"' in html
    assert 'data-chart="dead"' in html
    token = csrf_token(client, "/ops/dead-letters")
    assert client.post("/ops/dead-letters/redrive", data={"job_id": str(job.id)}).status_code == 400, "no CSRF token"
    answer = client.post("/ops/dead-letters/redrive", data={"job_id": str(job.id), "csrf_token": token})
    assert answer.status_code == 303 and f"jobs={job.id}" in answer.headers["Location"]
    followed = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Moved 1 message back" in followed and f'data-followed="{job.id}"' in followed
    unconfirmed = client.post("/ops/dead-letters/purge", data={"expected_count": "1", "csrf_token": token})
    assert unconfirmed.status_code == 400
    purged = client.post("/ops/dead-letters/purge", data={"expected_count": "1", "confirm": "yes",
                                                          "csrf_token": token})
    assert purged.status_code == 303
    assert "Purged 1 message" in client.get(purged.headers["Location"]).get_data(as_text=True)


def test_the_page_for_an_admin_has_no_actions_and_for_a_student_is_refused(client, db, sqs, aws, staff):
    _dead(sqs, aws, _body(_job(db, staff.teacher_a)))
    page_login(client, staff.admin_a)
    html = client.get("/ops/dead-letters").get_data(as_text=True)
    assert "SES throttled" in html and 'id="purge-form"' not in html and "Redrive selected" not in html
    token = csrf_token(client, "/ops/dead-letters")
    assert client.post("/ops/dead-letters/redrive", data={"all": "1", "csrf_token": token}).status_code == 403
    other = client.application.test_client()
    page_login(other, staff.student_a)
    assert other.get("/ops/dead-letters").status_code == 403


def test_an_operators_look_with_every_kind_of_group_matches_its_documented_schema(client, db, sqs, aws, staff):
    from jsonschema import Draft202012Validator

    from web.api.openapi import openapi_document

    document = openapi_document()
    _dead(sqs, aws, _body(_job(db, staff.teacher_a)), "junk",
          f'{{"v": 1, "job_id": "{uuid.uuid4()}", "type": "canary", "trace_id": ""}}')
    _dead(sqs, aws, "elasticbeanstalk scheduled job", attributes={
        "beanstalk.sqsd.task_name": {"DataType": "String", "StringValue": "retention"}})
    db.add(QueueSample(taken_at=utcnow(), queue="dead", visible=4, in_flight=0, delayed=0))
    db.commit()
    body = client.get(URL, headers=factories.login(client, staff.operator)).get_json()
    assert len(body["groups"]) == 4
    schema = {"$ref": "#/components/schemas/OpsDeadLetters", "components": document["components"]}
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
