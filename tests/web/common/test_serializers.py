"""web.common.serializers.job_etag: it changes with every field job_json shows, and only then."""
from __future__ import annotations

import uuid
from collections import namedtuple
from datetime import UTC, datetime, timedelta

import pytest

from web.common.serializers import job_etag, job_json

Row = namedtuple("Row", "id type state progress attempts created_at started_at finished_at error result")
START = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BASE = Row(uuid.UUID(int=7), "report", "running", 40, 1, START, START + timedelta(seconds=1), None, None, None)
CHANGES = {
    "id": uuid.UUID(int=8),
    "type": "seed",
    "state": "succeeded",
    "progress": 41,
    "attempts": 2,
    "created_at": START + timedelta(microseconds=1),
    "started_at": None,
    "finished_at": START + timedelta(seconds=9),
    "error": "boom",
    "result": {"rows": 3},
}


def test_every_field_job_json_shows_is_in_the_etag():
    assert set(CHANGES) == set(job_json(BASE)), "a field job_json shows is not covered here"


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_a_change_to_any_shown_field_changes_the_etag(field):
    changed = BASE._replace(**{field: CHANGES[field]})
    assert job_json(changed) != job_json(BASE)
    assert job_etag(changed) != job_etag(BASE)


def test_the_same_job_has_the_same_etag_whatever_the_key_order_of_its_result():
    one = BASE._replace(result={"a": 1, "b": {"x": 1, "y": 2}})
    other = BASE._replace(result={"b": {"y": 2, "x": 1}, "a": 1})
    assert job_etag(one) == job_etag(other) and len(job_etag(one)) == 32
