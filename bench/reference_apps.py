"""The floors Aula's paths are compared with: bare Flask apps, each doing the least its path must
do, served by gunicorn with gunicorn.conf.py like the real tiers (so the same worker class,
workers, threads, access log and keep-alive):

- `json`:   (a) a small JSON answer, the floor of GET /healthz;
- `select`: (b) one raw driver SELECT of a job row by id, the floor of a poll;
- `insert`: (c) one raw INSERT of a job row from a POSTed JSON body, the floor of an enqueue;
- `update`: (d) a POST doing one raw UPDATE of the job its envelope names, the floor of the
  worker's claim-run-record (served with the worker tier's settings).

Started as `gunicorn --config gunicorn.conf.py 'bench.reference_apps:create_app("select")'` with
DATABASE_URL set. The drivers are the app's (psycopg 3, sqlite3), one connection per thread
opened on first use and kept, with autocommit: one statement is one round trip.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, abort, jsonify, request

from bench.database import driver_target

KINDS = ("json", "select", "insert", "update")
JOB_COLUMNS = ("id", "type", "state", "progress", "attempts", "created_at", "started_at", "finished_at",
               "error", "result")


class _Connections:
    """One driver connection per thread, so the gthread workers never share one."""

    def __init__(self, url: str):
        self.sqlite = url.startswith("sqlite:///")
        self.target = driver_target(url)
        self.local = threading.local()

    def get(self) -> Any:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self._connect()
        return conn

    def _connect(self) -> Any:
        if self.sqlite:
            # The pragmas core/db.py sets, so the floor reads and writes the file the way the app does.
            conn = sqlite3.connect(self.target, timeout=15, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=15000")
            return conn
        import psycopg

        return psycopg.connect(self.target, autocommit=True, connect_timeout=5)

    def job_key(self, job_id: str) -> str:
        """The id as the jobs table stores it: SQLAlchemy's Uuid is 32 hex characters on SQLite."""
        parsed = uuid.UUID(job_id)
        return parsed.hex if self.sqlite else str(parsed)

    def param(self) -> str:
        return "?" if self.sqlite else "%s"


def _stored_now(sqlite: bool) -> Any:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[10] == " ":  # SQLite's stored datetime
        return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()
    return value


def create_app(kind: str) -> Flask:
    if kind not in KINDS:
        raise ValueError(f"unknown reference app {kind!r}; one of {', '.join(KINDS)}")
    app = Flask(f"bench_reference_{kind}")
    if kind == "json":
        @app.get("/json")
        def small_json():
            return jsonify({"status": "ok", "role": "reference"})

        return app

    db = _Connections(os.environ["DATABASE_URL"])
    p = db.param()

    if kind == "select":
        query = f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE id = {p}"

        @app.get("/jobs/<job_id>")
        def select_job(job_id: str):
            row = db.get().execute(query, (db.job_key(job_id),)).fetchone()
            if row is None:
                abort(404)
            job = {name: _iso(value) for name, value in zip(JOB_COLUMNS, row, strict=True)}
            job["id"] = job_id
            return jsonify({"job": job})

    elif kind == "insert":
        statement = (f"INSERT INTO jobs (id, type, payload, state, attempts, progress, trace_id, created_at, published_at)"
                     f" VALUES ({', '.join([p] * 9)})")

        @app.post("/jobs")
        def insert_job():
            body = request.get_json(silent=True) or {}
            job_id, now = uuid.uuid4(), _stored_now(db.sqlite)
            payload = json.dumps({"note": str(body.get("title", ""))[:200]})
            db.get().execute(statement, (db.job_key(str(job_id)), "canary", payload, "queued", 0, 0,
                                         uuid.uuid4().hex, now, now))
            return jsonify({"job": {"id": str(job_id)}}), 202

    else:
        statement = f"UPDATE jobs SET state = 'succeeded', attempts = attempts + 1, finished_at = {p} WHERE id = {p}"

        @app.post("/update")
        def update_job():
            envelope = request.get_json(silent=True) or {}
            try:
                key = db.job_key(str(envelope.get("job_id")))
            except ValueError:
                abort(400)
            db.get().execute(statement, (_stored_now(db.sqlite), key))
            return jsonify({"outcome": "succeeded"})

    return app
