"""The console's lists follow the polling conventions (web/api/polling.py): their JSON answers
carry an ETag (an unchanged list is a 304) and Retry-After (the app's interval), and each list
page carries its JSON twin's URL, with its filters, on its first page only: a page further down
(by cursor or number) is not polled (docs/console.md, "Live lists")."""
from __future__ import annotations

import re
from html import unescape

import pytest

from core.jobs.outbox import new_job
from tests import factories
from tests.web.pages.helpers import page_login

LISTS = {"jobs": "/api/ops/jobs", "batches": "/api/ops/batches", "workflows": "/api/ops/workflows",
         "audit": "/api/ops/audit"}


@pytest.mark.parametrize("name", sorted(LISTS))
def test_a_list_answers_with_an_etag_and_retry_after(client, staff, name):
    headers = factories.login(client, staff.operator)
    first = client.get(LISTS[name], headers=headers)
    assert first.status_code == 200 and first.headers["ETag"] and first.headers["Retry-After"] == "2"
    again = client.get(LISTS[name], headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Retry-After"] == "2"


def test_the_jobs_list_etag_changes_when_a_job_does(client, db, staff):
    headers = factories.login(client, staff.operator)
    before = client.get("/api/ops/jobs", headers=headers).headers["ETag"]
    new_job(db, "report", {"kind": "class_roster", "class_id": 1}, staff.teacher_a.id)
    db.commit()
    changed = client.get("/api/ops/jobs", headers={**headers, "If-None-Match": before})
    assert changed.status_code == 200 and changed.headers["ETag"] != before


def _poll_url(html: str) -> str | None:
    found = re.search(r'data-live-list data-poll-url="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


@pytest.mark.parametrize("name", sorted(LISTS))
def test_the_first_page_polls_its_twin_with_its_filters(client, staff, name):
    page_login(client, staff.operator)
    assert _poll_url(client.get(f"/ops/{name}").get_data(as_text=True)) == LISTS[name]
    args = {"jobs": "state=failed", "batches": "state=open", "workflows": "state=running", "audit": "action=pause"}[name]
    url = _poll_url(client.get(f"/ops/{name}?{args}&size=5").get_data(as_text=True))
    assert url is not None and url.startswith(LISTS[name] + "?") and args in url and "size=5" in url


def test_a_page_further_down_is_not_polled(client, db, staff):
    for n in range(3):
        new_job(db, "report", {"kind": "class_roster", "class_id": n + 1}, staff.teacher_a.id)
    db.commit()
    page_login(client, staff.operator)
    first = client.get("/ops/jobs?size=1").get_data(as_text=True)
    assert _poll_url(first) is not None
    cursor = re.search(r'href="[^"]*after=([^"&]+)', first).group(1)
    deeper = client.get(f"/ops/jobs?size=1&after={cursor}").get_data(as_text=True)
    assert "data-live-list" in deeper and _poll_url(deeper) is None and "A page further down stays as drawn" in deeper
    assert _poll_url(client.get("/ops/jobs?size=1&page=2").get_data(as_text=True)) is None
