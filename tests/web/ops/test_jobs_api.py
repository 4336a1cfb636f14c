"""/api/ops/jobs: the console's jobs list (scope, every filter, cursor pages, sort), one job
(redaction, attempts, lineage both ways), its log lines, and who may see what."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.jobs.types import JOB_TYPES
from core.models import Batch, Job
from core.models.ops import JobAttempt
from tests import factories
from web.api.openapi import openapi_document

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REPORT = {"kind": "class_roster", "class_id": 7, "format": "csv"}


def make(db, owner, state="failed", minutes=0, type="report", payload=None, **columns) -> Job:
    """A job row as the engine would have left it, created `minutes` after T0."""
    created = T0 + timedelta(minutes=minutes)
    finished = created + timedelta(seconds=30) if state in ("succeeded", "failed", "cancelled") else None
    started = created + timedelta(seconds=5) if state != "queued" else None
    values = {"published_at": created + timedelta(seconds=1), "started_at": started, "finished_at": finished,
              "attempts": 0 if state == "queued" else 1, **columns}
    job = Job(id=uuid.uuid4(), type=type, payload=REPORT if payload is None else payload,
              owner_id=owner.id if owner else None, state=state, created_at=created, **values)
    db.add(job)
    db.flush()
    return job


@pytest.fixture
def world(db, staff):
    a, b = staff.teacher_a, staff.teacher_b
    jobs = {
        "a_failed": make(db, a, "failed", 1, error="SES throttling: Rate exceeded"),
        "a_done": make(db, a, "succeeded", 2, type="email", payload={"template": "activity_published",
                                                                      "to_user_id": a.id, "context": {}}),
        "a_queued": make(db, a, "queued", 3, payload={**REPORT, "class_id": 42}),
        "a_dead": make(db, staff.student_a, "retrying", 4, dead_lettered_at=T0 + timedelta(minutes=5)),
        "b_failed": make(db, b, "failed", 5, error="boom"),
        "periodic": make(db, None, "succeeded", 6, type="canary", payload={"note": None}),
    }
    db.commit()
    return jobs


def ids(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [row["id"] for row in response.get_json()["items"]]


def test_students_and_teachers_are_refused_and_anonymous_callers_must_log_in(client, staff, world):
    job = world["a_failed"]
    for person in (staff.student_a, staff.teacher_a):
        auth = factories.login(client, person)
        for method, path in (("get", "/api/ops/jobs"), ("get", f"/api/ops/jobs/{job.id}"),
                             ("get", f"/api/ops/jobs/{job.id}/logs"), ("post", f"/api/ops/jobs/{job.id}/reprocess"),
                             ("post", f"/api/ops/jobs/{job.id}/cancel"), ("get", "/api/ops/bulk/count?action=cancel"),
                             ("post", "/api/ops/bulk")):
            assert getattr(client, method)(path, headers=auth, json={}).status_code == 403, (person.role, path)
    assert client.get("/api/ops/jobs").status_code == 401


def test_an_operator_sees_every_job_and_an_admin_only_their_institutions(client, staff, world):
    everyone = ids(client.get("/api/ops/jobs", headers=factories.login(client, staff.operator)))
    assert set(everyone) == {str(j.id) for j in world.values()}
    assert everyone[0] == str(world["periodic"].id)  # newest first
    mine = ids(client.get("/api/ops/jobs", headers=factories.login(client, staff.admin_a)))
    assert set(mine) == {str(world[k].id) for k in ("a_failed", "a_done", "a_queued", "a_dead")}


def test_an_admin_cannot_widen_their_scope_by_institution_or_owner(client, staff, world):
    auth = factories.login(client, staff.admin_a)
    other = ids(client.get(f"/api/ops/jobs?institution={staff.school_b.id}", headers=auth))
    assert str(world["b_failed"].id) not in other and other  # fixed to their own institution
    assert ids(client.get(f"/api/ops/jobs?owner={staff.teacher_b.id}", headers=auth)) == []
    assert ids(client.get(f"/api/ops/jobs?owner={staff.teacher_b.email}", headers=auth)) == []
    for key in ("b_failed", "periodic"):
        assert client.get(f"/api/ops/jobs/{world[key].id}", headers=auth).status_code == 404


def test_bad_ids_are_404(client, staff, world):
    auth = factories.login(client, staff.operator)
    for bad in ("nope", str(uuid.uuid4()), "1" * 40):
        assert client.get(f"/api/ops/jobs/{bad}", headers=auth).status_code == 404
        assert client.post(f"/api/ops/jobs/{bad}/reprocess", headers=auth).status_code == 404


@pytest.mark.parametrize(("query", "expected"), [
    ("state=failed", {"a_failed", "b_failed"}),
    ("state=dead_lettered", {"a_dead"}),
    ("type=email", {"a_done"}),
    ("state=failed&type=report", {"a_failed", "b_failed"}),
    ("error=THROTTLING", {"a_failed"}),
    ("error=100%25", set()),  # LIKE's wildcards are text
    ("payload=class_id=42", {"a_queued"}),
    ("payload=kind=class_roster&payload=class_id=7", {"a_failed", "a_dead", "b_failed"}),
    ("payload=format=csv&state=queued", {"a_queued"}),
    ("created_from=2026-11-01T12:03:00Z&created_to=2026-11-01T12:05:00Z", {"a_queued", "a_dead"}),
    ("created_from=2026-11-02", set()),
    ("created_to=2026-11-01", {"a_failed", "a_done", "a_queued", "a_dead", "b_failed", "periodic"}),
    ("finished_from=2026-11-01T12:02:00&finished_to=2026-11-01T12:05:31", {"a_done", "b_failed"}),
    ("state=&type=&owner=&error=", {"a_failed", "a_done", "a_queued", "a_dead", "b_failed", "periodic"}),
])
def test_each_filter(client, staff, world, query, expected):
    found = ids(client.get(f"/api/ops/jobs?{query}", headers=factories.login(client, staff.operator)))
    assert set(found) == {str(world[k].id) for k in expected}


def test_owner_by_id_or_email_and_institution(client, staff, world):
    auth = factories.login(client, staff.operator)
    by_id = ids(client.get(f"/api/ops/jobs?owner={staff.teacher_a.id}", headers=auth))
    by_email = ids(client.get(f"/api/ops/jobs?owner={staff.teacher_a.email.upper()}", headers=auth))
    assert set(by_id) == set(by_email) == {str(world[k].id) for k in ("a_failed", "a_done", "a_queued")}
    assert ids(client.get("/api/ops/jobs?owner=nobody@example.test", headers=auth)) == []
    school_b = ids(client.get(f"/api/ops/jobs?institution={staff.school_b.id}", headers=auth))
    assert school_b == [str(world["b_failed"].id)]


@pytest.mark.parametrize(("query", "field"), [
    ("state=lost", "state"), ("type=nope", "type"), ("institution=abc", "institution"),
    ("created_from=2026-02-30", "created_from"), ("finished_to=yesterday", "finished_to"),
    ("error=" + "x" * 201, "error"), ("payload=a b=1", "payload"), ("payload=novalue", "payload"),
    ("payload=a=1&payload=b=2&payload=c=3&payload=d=4", "payload"), ("sort=random", "sort"),
    ("size=1000", "size"), ("page=51", "page"), ("after=garbage", "after"), ("owner=" + "x" * 255, "owner"),
])
def test_bad_filters_are_400_naming_the_parameter(client, staff, world, query, field):
    response = client.get(f"/api/ops/jobs?{query}", headers=factories.login(client, staff.operator))
    assert response.status_code == 400 and response.get_json()["field"] == field, response.get_json()


def test_pages_follow_cursors_both_ways_in_either_order(client, staff, world):
    auth = factories.login(client, staff.operator)
    for sort in ("newest", "oldest"):
        seen, url = [], f"/api/ops/jobs?size=2&sort={sort}"
        while url:
            body = client.get(url, headers=auth).get_json()
            seen += [row["id"] for row in body["items"]]
            url = body["next"] and f"/api/ops/jobs?size=2&sort={sort}&after={body['next']}"
        by_time = sorted(world.values(), key=lambda j: j.created_at, reverse=sort == "newest")
        assert seen == [str(j.id) for j in by_time]
    last = client.get("/api/ops/jobs?size=2&page=3", headers=auth).get_json()
    back = client.get(f"/api/ops/jobs?size=2&before={last['previous']}", headers=auth).get_json()
    assert back["page"] == 2 and [r["id"] for r in back["items"]] == [str(world["a_dead"].id), str(world["a_queued"].id)]


def test_a_row_has_its_timings_owner_and_shortened_error(client, db, staff, world):
    world["a_failed"].error = "x" * 500
    db.commit()
    body = client.get("/api/ops/jobs?state=failed&type=report", headers=factories.login(client, staff.operator)).get_json()
    row = next(r for r in body["items"] if r["id"] == str(world["a_failed"].id))
    assert row["queue_wait_seconds"] == 4.0 and row["duration_seconds"] == 25.0
    assert row["owner"]["email"] == staff.teacher_a.email and row["institution"]["id"] == staff.school_a.id
    assert row["type_label"] == "Report" and len(row["error"]) == 201 and row["error"].endswith("…")
    assert body["filter"] == {"state": "failed", "type": "report"}


def test_the_documented_type_filter_is_every_declared_type():
    schema = openapi_document()["components"]["schemas"]["OpsJobTypeFilter"]
    assert set(schema["enum"]) - {""} == set(JOB_TYPES), "list every declared type in ops_jobs.yaml OpsJobTypeFilter"


def test_the_documented_time_pattern_is_the_one_applied():
    from web.common.ops.jobs_params import WHEN_PATTERN

    assert openapi_document()["components"]["schemas"]["OpsWhen"]["pattern"] == WHEN_PATTERN


def test_a_job_shows_redacted_payload_attempts_and_timings(client, db, staff, world):
    job = make(db, staff.teacher_a, "failed", 10, type="report",
               payload={**REPORT, "password": "hunter2", "api_token": "t0k", "notes": "$2b$12$abcdefghijklmnopqrstuv",
                        "email": "kid@school.test", "nested": {"full_name": "Ana Souza", "client_secret": "s"}},
               error="gave up: Bearer abcdefghijklmnopqrstuvwxyz123456 rejected for kid@school.test")
    db.add_all([JobAttempt(job_id=job.id, attempt=1, started_at=job.started_at, finished_at=job.started_at
                           + timedelta(seconds=2), outcome="retrying", error="first: timeout", worker="i-1/11"),
                JobAttempt(job_id=job.id, attempt=2, started_at=job.started_at + timedelta(seconds=20),
                           finished_at=job.finished_at, outcome="failed", error="second: boom", worker="i-2/12")])
    db.commit()
    op = client.get(f"/api/ops/jobs/{job.id}", headers=factories.login(client, staff.operator))
    assert op.status_code == 200 and "Retry-After" not in op.headers and op.headers["ETag"]
    body = op.get_json()
    assert body["payload"]["password"] == body["payload"]["api_token"] == "[redacted]"
    assert body["payload"]["notes"] == "[redacted]" and body["payload"]["nested"]["client_secret"] == "[redacted]"
    assert body["payload"]["email"] == "kid@school.test" and body["payload"]["nested"]["full_name"] == "Ana Souza"
    assert "abcdefghijklmnop" not in body["error"] and "kid@school.test" in body["error"]
    assert [(a["attempt"], a["outcome"], a["error"], a["worker"]) for a in body["attempt_history"]] == [
        (1, "retrying", "first: timeout", "i-1/11"), (2, "failed", "second: boom", "i-2/12")]
    assert body["timings"]["queue_wait_seconds"] == 4.0 and body["actions"] == {"reprocess": True, "cancel": False}
    admin = client.get(f"/api/ops/jobs/{job.id}", headers=factories.login(client, staff.admin_a)).get_json()
    assert admin["payload"]["email"] == admin["payload"]["nested"]["full_name"] == "[personal data: operators only]"
    assert admin["payload"]["password"] == "[redacted]" and "kid@school.test" not in admin["error"]
    assert admin["payload"]["class_id"] == 7
    assert [a["worker"] for a in admin["attempt_history"]] == [None, None] and admin["claimed_by"] is None


def test_an_unfinished_job_is_polled_with_etag_and_retry_after(client, staff, world):
    auth = factories.login(client, staff.operator)
    first = client.get(f"/api/ops/jobs/{world['a_queued'].id}", headers=auth)
    assert first.status_code == 200 and first.headers["Retry-After"]
    again = client.get(f"/api/ops/jobs/{world['a_queued'].id}", headers={**auth, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_lineage_both_ways(client, db, staff, world):
    a = staff.teacher_a
    parent = make(db, a, "succeeded", 20, type="activity_fanout", payload={"activity_id": 1})
    batch = Batch(id=uuid.uuid4(), owner_id=a.id, parent_job_id=parent.id, description="emails of 1", total=2,
                  succeeded=1, failed=1, followup_type="activity_summary", created_at=T0 + timedelta(minutes=21))
    db.add(batch)
    db.flush()
    child = make(db, a, "failed", 22, type="email", payload={}, parent_id=parent.id, batch_id=batch.id, origin="parent")
    followup = make(db, a, "succeeded", 23, type="activity_summary", payload={})
    batch.followup_job_id = followup.id
    copy = make(db, a, "queued", 24, type="email", payload={}, reprocess_of_id=child.id, origin="reprocess")
    hidden_parent = make(db, None, "succeeded", 25, type="canary", payload={})
    orphan = make(db, a, "failed", 26, parent_id=hidden_parent.id)
    db.commit()
    auth = factories.login(client, staff.admin_a)

    def lineage(job):
        return client.get(f"/api/ops/jobs/{job.id}", headers=auth).get_json()["lineage"]

    up = lineage(parent)
    assert up["origin"] == "request" and up["origin_derived"]
    assert [c["id"] for c in up["children"]["items"]] == [str(child.id)]
    assert [b["id"] for b in up["batches_created"]] == [str(batch.id)]
    down = lineage(child)
    assert (down["origin"], down["origin_derived"], down["parent"]["id"]) == ("parent", False, str(parent.id))
    assert down["batch"]["id"] == str(batch.id)
    assert [c["id"] for c in down["reprocess_copies"]["items"]] == [str(copy.id)]
    assert lineage(copy)["reprocess_of"]["id"] == str(child.id)
    assert lineage(followup)["origin"] == "batch" and lineage(followup)["followup_of_batch"]["id"] == str(batch.id)
    assert lineage(orphan)["parent"] is None  # a periodic parent is outside an admin's scope
    assert client.get(f"/api/ops/jobs/{orphan.id}", headers=factories.login(client, staff.operator)
                      ).get_json()["lineage"]["parent"]["id"] == str(hidden_parent.id)


def test_children_are_capped(client, db, staff):
    from web.common.ops.job_detail import LINKS

    parent = make(db, staff.teacher_a, "succeeded", 0, type="activity_fanout", payload={})
    for n in range(LINKS + 2):
        make(db, staff.teacher_a, "succeeded", n + 1, type="email", payload={}, parent_id=parent.id)
    db.commit()
    children = client.get(f"/api/ops/jobs/{parent.id}", headers=factories.login(client, staff.operator)
                          ).get_json()["lineage"]["children"]
    assert len(children["items"]) == LINKS and children["more"] is True


def test_logs_without_a_log_group_give_the_query_to_run(client, staff, world):
    body = client.get(f"/api/ops/jobs/{world['a_failed'].id}/logs", headers=factories.login(client, staff.admin_a)).get_json()
    assert body["configured"] is False and body["status"] == "not_configured" and body["lines"] == []
    assert f'filter job_id = "{world["a_failed"].id}"' in body["query"]


class FakeLogs:
    """CloudWatch Logs' Insights calls, scripted: `statuses` in turn, then the rows."""

    def __init__(self, statuses):
        self.statuses, self.calls = list(statuses), []

    def start_query(self, **kwargs):
        self.calls.append(("start", kwargs))
        return {"queryId": "q-1"}

    def get_query_results(self, queryId):
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"status": status, "results": [[{"field": "@timestamp", "value": "2026-11-01 12:00:05.000"},
                                               {"field": "message", "value": "sent to kid@school.test"},
                                               {"field": "@ptr", "value": "x"}]]}

    def stop_query(self, queryId):
        self.calls.append(("stop", queryId))


def test_logs_from_insights_are_bounded_in_time_and_waiting(web_app, db, staff, world, monkeypatch):
    from dataclasses import replace

    from web.common.ops import job_logs

    monkeypatch.setattr(job_logs, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(job_logs, "WAIT_SECONDS", 0.05)
    settings = replace(web_app.extensions["aula"].settings, cloudwatch_log_group="/aula/app")
    job = world["a_failed"]
    with web_app.app_context():
        done = job_logs.job_logs(settings, job, personal=False, client=FakeLogs(["Running", "Complete"]))
        assert done.status == "complete" and done.lines[0]["message"] == "sent to [personal data: operators only]"
        slow = FakeLogs(["Running"])
        stuck = job_logs.job_logs(settings, job, personal=True, client=slow)
    assert stuck.status == "incomplete" and ("stop", "q-1") in slow.calls
    start = slow.calls[0][1]
    assert start["logGroupName"] == "/aula/app" and start["endTime"] - start["startTime"] <= 7 * 86400
    assert start["startTime"] == int((job.created_at - timedelta(minutes=1)).timestamp())


def test_logs_failing_are_said_not_raised(web_app, staff, world):
    from dataclasses import replace

    from web.common.ops import job_logs

    class Broken:
        def start_query(self, **kwargs):
            raise RuntimeError("AccessDenied")

    settings = replace(web_app.extensions["aula"].settings, cloudwatch_log_group="/aula/app")
    with web_app.app_context():
        answer = job_logs.job_logs(settings, world["a_failed"], personal=True, client=Broken())
    assert answer.status == "failed" and "RuntimeError" in answer.error


def test_the_list_reads_no_more_than_a_page(client, db, staff, world):
    """The page's statement is LIMIT size + 1 on a keyset, never the whole table."""
    captured = []
    engine = db.get_bind()

    def before(conn, cursor, statement, parameters, context, executemany):
        captured.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        client.get("/api/ops/jobs?size=2&state=failed", headers=factories.login(client, staff.operator))
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    listing = [s for s in captured if "FROM jobs" in s and "ORDER BY jobs.created_at DESC" in s]
    assert listing and all("LIMIT" in s for s in listing)


def test_an_admins_pages_follow_cursors_too(client, db, staff, world, monkeypatch):
    """An admin's list read owner by owner (PostgreSQL, when the platform-wide walk is too slow,
    forced here): the same pages and cursors."""
    from web.common.ops import jobs_list
    from web.common.refusal import Refusal

    if db.get_bind().dialect.name == "postgresql":
        def too_slow(*args, **kwargs):
            raise Refusal(422, "narrow your filter", field="filter")

        monkeypatch.setattr(jobs_list, "paginate", too_slow)
    auth = factories.login(client, staff.admin_a)
    mine = sorted((world[k] for k in ("a_failed", "a_done", "a_queued", "a_dead")), key=lambda j: j.created_at,
                  reverse=True)
    seen, url, body = [], "/api/ops/jobs?size=1", {}
    while url:
        body = client.get(url, headers=auth).get_json()
        seen += [row["id"] for row in body["items"]]
        url = body["next"] and f"/api/ops/jobs?size=1&after={body['next']}"
    assert seen == [str(j.id) for j in mine] and body["page"] == 4 and body["total"] == 4
    back = client.get(f"/api/ops/jobs?size=1&before={body['previous']}", headers=auth).get_json()
    assert [r["id"] for r in back["items"]] == [str(mine[2].id)] and back["page"] == 3
    oldest = client.get("/api/ops/jobs?size=2&sort=oldest&page=2", headers=auth).get_json()
    assert [r["id"] for r in oldest["items"]] == [str(mine[1].id), str(mine[0].id)]
    errors = client.get("/api/ops/jobs?error=throttling", headers=auth).get_json()
    assert [r["id"] for r in errors["items"]] == [str(world["a_failed"].id)]


def test_list_rows_mask_secrets_and_an_admin_sees_no_emails_in_errors(client, db, staff):
    make(db, staff.teacher_a, "failed", 0, error="SES refused kid@school.test with token Bearer abcdefghijklmnopqrstuvwx")
    db.commit()
    admin = client.get("/api/ops/jobs?state=failed", headers=factories.login(client, staff.admin_a)).get_json()
    operator = client.get("/api/ops/jobs?state=failed", headers=factories.login(client, staff.operator)).get_json()
    assert "kid@school.test" not in admin["items"][0]["error"] and "kid@school.test" in operator["items"][0]["error"]
    assert all("abcdefghijklmnop" not in body["items"][0]["error"] for body in (admin, operator))
