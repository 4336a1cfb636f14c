"""GET /api/jobs/<id> (owner only, cache- and poll-friendly), /healthz and request ids."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs.outbox import new_job
from core.models import Job
from tests import factories
from tests.conftest import make_settings

JOB_KEYS = {"id", "type", "state", "progress", "attempts", "created_at", "started_at", "finished_at", "error", "result"}


@pytest.fixture
def owner(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    db.commit()
    return teacher


@pytest.fixture
def auth(client, owner):
    return factories.login(client, owner)


@pytest.fixture
def job(db, owner):
    row = new_job(db, "report", {"kind": "class_roster", "class_id": 1, "format": "csv"}, owner_id=owner.id)
    db.commit()
    return row


def _set(db, job: Job, **values) -> None:
    db.execute(sa.update(Job).where(Job.id == job.id).values(**values))
    db.commit()


def test_owner_gets_the_job_with_exactly_the_documented_keys(client, auth, job):
    response = client.get(f"/api/jobs/{job.id}", headers=auth)
    assert response.status_code == 200
    body = response.get_json()["job"]
    assert set(body) == JOB_KEYS
    assert (body["id"], body["type"], body["state"], body["progress"], body["attempts"]) == (
        str(job.id), "report", "queued", 0, 0)
    assert body["created_at"].endswith("Z") and body["started_at"] is None and body["result"] is None
    assert "payload" not in response.get_data(as_text=True)


def test_the_file_key_of_a_result_is_replaced_by_a_download_url(client, db, auth, job):
    _set(db, job, state="succeeded", progress=100, finished_at=utcnow(),
         result={"file_key": "reports/secret-key.csv", "rows": 3})
    body = client.get(f"/api/jobs/{job.id}", headers=auth).get_json()["job"]
    assert body["result"] == {"rows": 3, "download_url": f"/api/jobs/{job.id}/download"}


@pytest.mark.parametrize("same_institution", [True, False])
def test_another_users_job_is_404(client, db, owner, job, same_institution):
    school = owner.institution if same_institution else factories.institution(db)
    other = factories.user(db, school, "teacher")
    db.commit()
    response = client.get(f"/api/jobs/{job.id}", headers=factories.login(client, other))
    assert response.status_code == 404 and "error" in response.get_json()
    assert "report" not in response.get_data(as_text=True)


def test_an_unknown_or_malformed_id_is_404(client, auth):
    for job_id in (uuid.uuid4(), "not-a-uuid", "12345"):
        response = client.get(f"/api/jobs/{job_id}", headers=auth)
        assert response.status_code == 404 and "error" in response.get_json(), job_id


def test_retry_after_is_sent_only_while_the_job_can_still_change(client, db, auth, job):
    for state in ("queued", "running", "retrying"):
        _set(db, job, state=state)
        assert client.get(f"/api/jobs/{job.id}", headers=auth).headers.get("Retry-After") == "2", state
    for state in ("succeeded", "failed", "cancelled"):
        _set(db, job, state=state)
        assert "Retry-After" not in client.get(f"/api/jobs/{job.id}", headers=auth).headers, state


def test_retry_after_follows_job_poll_interval_seconds(database_url, aws, db, job, owner):
    from web import create_app

    app = create_app(make_settings("web", database_url, aws, JOB_POLL_INTERVAL_SECONDS="7"))
    try:
        client = app.test_client()
        response = client.get(f"/api/jobs/{job.id}", headers=factories.login(client, owner))
        assert response.headers["Retry-After"] == "7"
    finally:
        app.extensions["aula"].db.dispose()


def test_a_matching_if_none_match_is_304_with_an_empty_body(client, auth, job):
    first = client.get(f"/api/jobs/{job.id}", headers=auth)
    etag = first.headers["ETag"]
    assert etag
    again = client.get(f"/api/jobs/{job.id}", headers={**auth, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_a_changed_job_gets_a_new_etag(client, db, auth, job):
    etag = client.get(f"/api/jobs/{job.id}", headers=auth).headers["ETag"]
    _set(db, job, state="running", progress=40)
    response = client.get(f"/api/jobs/{job.id}", headers={**auth, "If-None-Match": etag})
    assert response.status_code == 200 and response.get_json()["job"]["progress"] == 40
    assert response.headers["ETag"] and response.headers["ETag"] != etag


def test_job_responses_are_private(client, auth, job):
    cache_control = client.get(f"/api/jobs/{job.id}", headers=auth).headers["Cache-Control"]
    assert "private" in [part.strip() for part in cache_control.split(",")]


def test_healthz_is_ok_with_the_role(web_app, worker_app):
    for app, role in ((web_app, "web"), (worker_app, "worker")):
        response = app.test_client().get("/healthz")
        assert response.status_code == 200, role
        body = response.get_json()
        assert (body["status"], body["role"]) == ("ok", role)


def test_healthz_is_503_when_the_database_is_unreachable(web_app, worker_app):
    dead = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    try:
        for app, role in ((web_app, "web"), (worker_app, "worker")):
            database = app.extensions["aula"].db
            live, database.engine = database.engine, dead
            try:
                response = app.test_client().get("/healthz")
            finally:
                database.engine = live
            assert response.status_code == 503, role
            body = response.get_json()
            assert body["status"] != "ok" and body["role"] == role
            # and it recovers as soon as the database is back
            assert app.test_client().get("/healthz").status_code == 200, role
    finally:
        dead.dispose()


def test_the_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-Id": "lb-trace-123"})
    assert response.headers["X-Request-Id"] == "lb-trace-123"


def test_a_request_id_is_generated_when_absent_or_unusable(client):
    ids = [client.get("/healthz").headers["X-Request-Id"] for _ in range(2)]
    assert all(ids) and ids[0] != ids[1]
    too_long = "x" * 129
    generated = client.get("/healthz", headers={"X-Request-Id": too_long}).headers["X-Request-Id"]
    assert generated and generated != too_long


# ---- the poll is one statement, outside the ORM (issue 10, P2) ----

def _orm_statements(web_app) -> list[str]:
    statements: list[str] = []
    sa.event.listen(web_app.extensions["aula"].db.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))
    return statements


def test_a_poll_is_one_read_and_no_orm_statement(client, web_app, auth, job, monkeypatch):
    from web.common.reads import OneStatementReads

    reads: list[object] = []
    first = OneStatementReads.first
    monkeypatch.setattr(OneStatementReads, "first", lambda self, *a: reads.append(a[0]) or first(self, *a))
    statements = _orm_statements(web_app)
    for headers in (auth, {**auth, "If-None-Match": client.get(f"/api/jobs/{job.id}", headers=auth).headers["ETag"]}):
        reads.clear()
        statements.clear()
        response = client.get(f"/api/jobs/{job.id}", headers=headers)
        assert response.status_code in (200, 304)
        assert len(reads) == 1 and statements == [], (reads, statements)


def test_the_read_needs_no_transaction(client, web_app, auth, job):
    assert client.get(f"/api/jobs/{job.id}", headers=auth).status_code == 200
    idle = web_app.extensions["aula_reads"]._idle
    assert len(idle) == 1
    connection = idle[0].dbapi
    # psycopg: autocommit; sqlite3: isolation_level None. Either way no BEGIN is sent.
    assert getattr(connection, "autocommit", None) is True or getattr(connection, "isolation_level", "") is None


def test_someone_elses_job_and_a_missing_one_answer_the_same(client, db, owner, job):
    other = factories.user(db, owner.institution, "teacher")
    db.commit()
    headers = factories.login(client, other)
    theirs = client.get(f"/api/jobs/{job.id}", headers=headers)
    missing = client.get(f"/api/jobs/{job.id}".replace(str(job.id)[:8], "00000000"), headers=headers)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json()["error"] == f"job {job.id} not found"
    assert set(theirs.headers.keys()) == set(missing.headers.keys())


def test_a_revoked_login_cannot_poll(client, db, auth, job):
    assert client.get(f"/api/jobs/{job.id}", headers=auth).status_code == 200
    assert client.post("/api/logout", headers=auth).status_code == 200
    response = client.get(f"/api/jobs/{job.id}", headers=auth)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_pages_poll_with_the_session_cookie(client, owner, job):
    from tests.web.pages.helpers import csrf_token, page_login

    page_login(client, owner)
    response = client.get(f"/api/jobs/{job.id}")
    assert response.status_code == 200 and response.get_json()["job"]["id"] == str(job.id)
    assert "Cookie" in response.headers.get("Vary", "")
    again = client.get(f"/api/jobs/{job.id}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert client.post("/logout", data={"csrf_token": csrf_token(client, "/teacher/classes")}).status_code == 302
    assert client.get(f"/api/jobs/{job.id}").status_code == 401


def test_a_bearer_token_that_is_not_live_is_401_even_with_a_live_cookie(client, owner, job):
    from tests.web.pages.helpers import page_login

    page_login(client, owner)
    assert client.get(f"/api/jobs/{job.id}").status_code == 200
    assert client.get(f"/api/jobs/{job.id}", headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_a_bearer_poll_sets_no_cookie_and_does_not_vary_on_one(client, auth, job):
    response = client.get(f"/api/jobs/{job.id}", headers=auth)
    assert "Set-Cookie" not in response.headers and "Vary" not in response.headers


def test_a_poll_logs_with_the_request_id_and_the_user(client, owner, auth, job, monkeypatch):
    import logging

    from core.logs import ContextFilter
    from web.api import jobs as jobs_api

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(ContextFilter("web"))
    logger = logging.getLogger("tests.poll")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    polled_as = jobs_api.polled_as

    def logging_polled_as(*args, **kwargs):
        logger.info("answering a poll")
        return polled_as(*args, **kwargs)

    monkeypatch.setattr(jobs_api, "polled_as", logging_polled_as)
    try:
        response = client.get(f"/api/jobs/{job.id}", headers={**auth, "X-Request-Id": "poll-trace-1"})
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "poll-trace-1"
    assert [(r.request_id, r.user_id) for r in records] == [("poll-trace-1", owner.id)]


def test_a_poll_survives_a_connection_the_database_dropped(client, web_app, auth, job):
    assert client.get(f"/api/jobs/{job.id}", headers=auth).status_code == 200
    reads = web_app.extensions["aula_reads"]
    connection = reads._idle[-1].dbapi
    connection.close()  # as if the server had ended it (a restart, a fail-over, idle reaping)
    response = client.get(f"/api/jobs/{job.id}", headers=auth)
    assert response.status_code == 200 and response.get_json()["job"]["id"] == str(job.id)
    assert reads._idle and all(c.dbapi is not connection for c in reads._idle)


def test_a_poll_is_503_when_the_database_is_unreachable(client, web_app, auth, job):
    from web.common.reads import OneStatementReads, _engine

    reads = web_app.extensions["aula_reads"]
    dead = OneStatementReads(_engine(make_settings("web", "postgresql://nobody@127.0.0.1:1/none", {
        "SQS_QUEUE_URL": "http://127.0.0.1:1/q", "S3_BUCKET": "b"})))
    web_app.extensions["aula_reads"] = dead
    try:
        response = client.get(f"/api/jobs/{job.id}", headers=auth)
    finally:
        web_app.extensions["aula_reads"] = reads
    assert response.status_code == 503 and "database" in response.get_json()["error"]
    assert client.get(f"/api/jobs/{job.id}", headers=auth).status_code == 200
