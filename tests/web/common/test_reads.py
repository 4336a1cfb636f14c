"""web.common.reads: one-statement reads on a DBAPI cursor read exactly what SQLAlchemy would,
on both backends, reuse their connections, and fail the way SQLAlchemy does."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.auth import issue_token, token_digest
from core.db import utcnow
from core.jobs.outbox import new_job
from core.models import Job
from tests import factories
from web.common.access import OWN_JOB_BY_LOGIN


@pytest.fixture
def reads(web_app):
    return web_app.extensions["aula_reads"]


@pytest.fixture
def login(db):
    """A teacher's live token, and a job of theirs with every column the poll shows set."""
    teacher = factories.user(db, factories.institution(db), "teacher")
    token = issue_token(db, teacher, 3600)
    job = new_job(db, "report", {"kind": "class_roster", "class_id": 1, "format": "csv"}, owner_id=teacher.id)
    db.flush()
    now = utcnow()
    db.execute(sa.update(Job).where(Job.id == job.id).values(
        state="succeeded", progress=100, attempts=2, started_at=now - timedelta(seconds=3), finished_at=now,
        error="retried once", result={"file_key": "reports/x.csv", "rows": 3, "nested": {"b": [1, 2], "a": None}}))
    db.commit()
    return {"teacher": teacher, "token": token, "job": job}


def _values(login, job_id):
    return {"digest": token_digest(login["token"]), "now": utcnow(), "job_id": job_id}


def test_a_row_reads_as_sqlalchemy_reads_it(reads, db, login):
    values = _values(login, login["job"].id)
    ours = reads.first(OWN_JOB_BY_LOGIN, values)
    theirs = db.execute(OWN_JOB_BY_LOGIN, values).first()
    assert ours is not None and theirs is not None
    assert tuple(ours) == tuple(theirs)
    assert ours._fields == tuple(theirs._fields)
    assert ours.created_at.tzinfo is not None and ours.result["nested"] == {"b": [1, 2], "a": None}
    assert (ours.user_id, ours.id) == (login["teacher"].id, login["job"].id)


def test_no_row_is_none_and_an_outer_join_without_a_match_is_a_row_of_nulls(reads, login):
    assert reads.first(OWN_JOB_BY_LOGIN, {**_values(login, None), "digest": token_digest("not a token")}) is None
    row = reads.first(OWN_JOB_BY_LOGIN, _values(login, uuid.uuid4()))
    assert row is not None and row.login_id is not None and row.id is None and row.state is None


def test_an_expired_login_reads_no_row(reads, login):
    assert reads.first(OWN_JOB_BY_LOGIN, {**_values(login, None), "now": utcnow() + timedelta(hours=2)}) is None


def test_connections_are_kept_and_reused(reads, login):
    for _ in range(5):
        assert reads.first(OWN_JOB_BY_LOGIN, _values(login, login["job"].id)) is not None
    assert len(reads._idle) == 1
    connection = reads._idle[0].dbapi
    reads.close()
    assert reads._idle == []
    with pytest.raises(reads.engine.dialect.loaded_dbapi.Error):  # closed
        connection.cursor().execute("SELECT 1")


def test_a_database_error_is_sqlalchemys_without_the_parameters(reads, login):
    missing = sa.select(sa.column("x")).select_from(sa.table("no_such_table")).where(sa.column("x") == sa.bindparam("digest"))
    secret = token_digest(login["token"])
    with pytest.raises(sa.exc.DBAPIError) as raised:
        reads.first(missing, {"digest": secret})
    assert secret not in str(raised.value)
    assert reads._idle == []  # a connection in doubt is not kept


def test_a_dropped_connection_is_retried_once_and_then_the_error_is_raised(reads, login, monkeypatch):
    values = _values(login, login["job"].id)
    assert reads.first(OWN_JOB_BY_LOGIN, values) is not None
    reads._idle[-1].dbapi.close()
    assert reads.first(OWN_JOB_BY_LOGIN, values) is not None  # retried on a new connection

    connect = reads._connect

    def dropped():
        connection = connect()
        connection.dbapi.close()
        return connection

    monkeypatch.setattr(reads, "_connect", dropped)
    reads.close()
    with pytest.raises(sa.exc.DBAPIError) as raised:
        reads.first(OWN_JOB_BY_LOGIN, values)
    assert raised.value.connection_invalidated


def test_disposing_of_the_apps_database_closes_the_reads(web_app, reads, login):
    assert reads.first(OWN_JOB_BY_LOGIN, _values(login, None)) is not None
    assert reads._idle
    web_app.extensions["aula"].db.dispose()
    assert reads._idle == []


def test_a_kept_connection_reads_each_parameter_set_afresh(reads, db, login):
    other = new_job(db, "report", {"kind": "class_roster", "class_id": 2, "format": "csv"}, owner_id=login["teacher"].id)
    db.commit()
    for job_id in (login["job"].id, other.id, None, login["job"].id, uuid.uuid4(), other.id):
        row = reads.first(OWN_JOB_BY_LOGIN, _values(login, job_id))
        assert row.id == job_id if job_id in (login["job"].id, other.id) else row.id is None
    assert len(reads._idle) == 1


def test_a_connection_in_use_when_the_reads_close_is_closed_after_its_read(reads, login, monkeypatch):
    from web.common import reads as reads_module

    in_use = []
    cursor = reads_module._Connection.cursor

    def closing_meanwhile(connection, statement):
        in_use.append(connection.dbapi)
        reads.close()  # another thread's disconnect, or the app shutting down
        return cursor(connection, statement)

    monkeypatch.setattr(reads_module._Connection, "cursor", closing_meanwhile)
    assert reads.first(OWN_JOB_BY_LOGIN, _values(login, None)) is not None
    assert reads._idle == []
    with pytest.raises(reads.engine.dialect.loaded_dbapi.Error):
        in_use[0].cursor().execute("SELECT 1")
