"""bench/console.py (P5's console rows): which paths are routed, what its seed adds, and that its
operator's logins open the console's pages and endpoints on the real web app. No timing."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from bench import console
from bench.context import Options
from bench.load import LoadError
from bench.rows import Row
from tests import factories


def test_a_path_is_routed_or_not_built():
    adapter = console.routes()
    assert console.is_routed(adapter, "/api/ops/batches?state=open")
    assert console.is_routed(adapter, "/ops/workflows/00000000-0000-0000-0000-000000000001")
    assert not console.is_routed(adapter, "/api/ops/no-such-area")
    assert not console.is_routed(adapter, "/ops/no-such-page")


def test_every_console_area_has_its_rows():
    paths = [p.path for p in console.CONSOLE_PATHS]
    for area in ("overview", "jobs", "batches", "workflows", "dead-letters", "periodic", "audit"):
        assert any(p.startswith(f"/api/ops/{area}") for p in paths), area
    filters = {term.split("=", 1)[0] for p in paths if p.startswith("/api/ops/jobs?")
               for term in p.split("?", 1)[1].split("&")}
    assert {"state", "type", "institution", "owner", "created_from", "finished_from", "error", "payload"} <= filters
    assert len({p.label for p in console.CONSOLE_PATHS}) == len(console.CONSOLE_PATHS)


@pytest.fixture
def small(monkeypatch):
    for name, value in (("FAILED_JOBS", 40), ("EXTRA_BATCHES", 30), ("WORKFLOWS_ROWS", 20), ("AUDIT_ENTRIES", 50)):
        monkeypatch.setattr(console, name, value)


def test_the_seed_adds_the_consoles_rows_and_an_operator_whose_logins_work(small, web_app, db, database_url):
    school = factories.institution(db)
    owner, other = factories.user(db, school, "teacher"), factories.user(db, school, "teacher")
    db.commit()
    seeds = console.seed(database_url, web_app.secret_key, owner.id, (other.id,))
    count = lambda sql: db.execute(sa.text(sql)).scalar_one()
    assert count("SELECT COUNT(*) FROM jobs WHERE state = 'failed' AND error IS NOT NULL") == 40
    assert count("SELECT COUNT(*) FROM batches") == 30
    assert count("SELECT COUNT(*) FROM workflows") == 21  # and one whose steps ran as jobs
    assert count("SELECT COUNT(*) FROM audit_log") == 50
    assert len(seeds.job_ids) == 32
    adapter = console.routes()
    client = web_app.test_client()
    for console_path in console.CONSOLE_PATHS:
        items = seeds.items(console_path)
        assert items and all(dict(i.headers) for i in items)
        # Each request on a connection of its own, as Elastic Beanstalk's nginx reaches gunicorn.
        assert all(dict(i.headers)["Connection"] == "close" for i in items)
        item = items[0]
        if not console.is_routed(adapter, item.path):
            continue  # not built yet: the bench reports it so
        # Every row the bench loads must be a 200 (a renamed filter would make its row a "no run").
        headers = dict(item.headers)
        cookie = headers.pop("Cookie", None)
        if cookie:
            client.set_cookie("session", cookie.removeprefix("session="))
        response = client.get(item.path, headers=headers)
        assert response.status_code == 200, (item.path, response.get_data(as_text=True)[:300])


class _Ctx:
    options = Options(duration=1)

    def __init__(self, fail: bool):
        self.fail = fail

    def measure(self, label, plan):
        if self.fail:
            raise LoadError("answered 500")
        from bench.load import LoadResult
        return LoadResult("wrk", 100, 1.0, p50_ms=5.0, p90_ms=8.0, p99_ms=250.0 if "audit" in label else 20.0,
                          max_ms=300.0)


def _seeds() -> console.Seeds:
    values = {k: "1" for k in ("job_type", "institution", "owner", "day_before", "batch_id", "workflow_id")}
    return console.Seeds(1, "t", "c", values, ("00000000-0000-0000-0000-000000000001",))


def test_rows_are_judged_by_their_p99_and_a_path_not_routed_is_not_built(monkeypatch):
    monkeypatch.setattr(console, "is_routed", lambda _adapter, path: not path.startswith("/api/ops/periodic"))
    rows = console.measure(_Ctx(fail=False), _seeds(), "http://x", 1_000_000, rounds=1)
    assert len(rows) == len(console.CONSOLE_PATHS) and all(isinstance(r, Row) for r in rows)
    by = {r.path.removeprefix("P5 console ").split(", 1,000,000 jobs")[0]: r for r in rows}
    assert by["GET /api/ops/periodic"].notes == ("not built: the app has no such route yet",)
    assert by["GET /api/ops/periodic"].met is None and by["GET /api/ops/periodic"].targets == ()
    assert by["GET /api/ops/batches"].met is True and by["GET /api/ops/batches"].p99_ms == 20.0
    assert by["GET /api/ops/audit"].met is False


def test_a_run_that_fails_is_a_row_without_a_p99_not_a_crash():
    rows = console.measure(_Ctx(fail=True), _seeds(), "http://x", 10_000, rounds=1)
    assert rows and all(r.p99_ms is None for r in rows)
    assert all(r.notes[0].startswith(("no run: answered 500", "not built")) for r in rows)
