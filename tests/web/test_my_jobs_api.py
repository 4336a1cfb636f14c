"""GET /api/jobs by position: `next`/`previous` cursors walk a user's jobs newest first (ties
by id), with or without a state filter, and give the same pages as page numbers do. (Page
numbers, filters and scoping: tests/web/test_classes_api.py.)"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from core.jobs.outbox import new_job
from tests import factories


@pytest.fixture
def owner(db):
    school = factories.institution(db)
    person, other = factories.user(db, school, "teacher"), factories.user(db, school, "teacher")
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(27):
        # Every third pair shares its instant: the order between them is by id.
        job = new_job(db, "report", {"kind": "class_roster", "class_id": n + 1, "format": "csv"}, owner_id=person.id)
        job.created_at = base + timedelta(seconds=n - n % 2)
        job.state = "failed" if n % 3 == 0 else "succeeded"
    new_job(db, "report", {"kind": "class_roster", "class_id": 1, "format": "csv"}, owner_id=other.id)
    db.commit()
    return person


def _walk(client, headers, query: str, start: str = "") -> list[dict]:
    pages = [client.get(f"/api/jobs?{query}{start}", headers=headers).get_json()]
    while pages[-1]["next"]:
        pages.append(client.get(f"/api/jobs?{query}&after={pages[-1]['next']}", headers=headers).get_json())
        assert len(pages) < 10
    return pages


@pytest.mark.parametrize("query, sizes", [("size=10", [10, 10, 7]), ("size=4&state=failed", [4, 4, 1])])
def test_cursors_give_the_pages_page_numbers_give(client, owner, query, sizes):
    headers = factories.login(client, owner)
    pages = _walk(client, headers, query)
    assert [len(p["items"]) for p in pages] == sizes and [p["page"] for p in pages] == [1, 2, 3]
    numbered = [client.get(f"/api/jobs?{query}&page={n}", headers=headers).get_json()["items"] for n in (1, 2, 3)]
    assert [p["items"] for p in pages] == numbered
    items = [i for p in pages for i in p["items"]]
    assert len({i["id"] for i in items}) == sum(sizes)
    keys = [(i["created_at"], i["id"]) for i in items]
    assert [k[0] for k in keys] == sorted((k[0] for k in keys), reverse=True)
    assert all(a[1] < b[1] for a, b in pairwise(keys) if a[0] == b[0]), "ties by id"
    back = client.get(f"/api/jobs?{query}&before={pages[-1]['previous']}", headers=headers).get_json()
    assert (back["page"], back["items"]) == (2, pages[1]["items"])


def test_the_envelope_says_how_to_go_on(client, owner):
    body = client.get("/api/jobs?size=10", headers=factories.login(client, owner)).get_json()
    assert {"page", "size", "total", "pages", "total_exact", "next", "previous", "items", "state"} == set(body)
    assert (body["total"], body["total_exact"], body["previous"]) == (27, True, None)
