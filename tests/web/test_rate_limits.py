"""web/rate_limits.py on the upload form (POST /api/activities/<id>/uploads): a student gets at
most UPLOAD_FORMS.requests forms a window, then 429 with Retry-After and the limit, per user;
a refused request is not counted; a new window starts afresh."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import utcnow
from core.models import Activity
from tests import factories
from web.rate_limits import UPLOAD_FORMS, RateLimit, RateLimited, count_request


@pytest.fixture
def course(db):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, students = factories.school_class(db, teacher, students=2)
    now = utcnow()
    activity = Activity(class_id=group.id, title="Lista", published_at=now, status="published",
                        due_at=now + timedelta(days=3))
    db.add(activity)
    db.commit()
    return {"students": students, "activity": activity}


def test_upload_forms_are_limited_per_student(client, db, course):
    first, second = course["students"]
    url = f"/api/activities/{course['activity'].id}/uploads"
    auth = factories.login(client, first)
    for _ in range(UPLOAD_FORMS.requests):
        assert client.post(url, json={"filename": "a.pdf"}, headers=auth).status_code == 201
    refused = client.post(url, json={"filename": "a.pdf"}, headers=auth)
    assert refused.status_code == 429, refused.get_json()
    assert refused.get_json()["limit"] == UPLOAD_FORMS.requests and "too many requests" in refused.get_json()["error"]
    assert 1 <= int(refused.headers["Retry-After"]) <= UPLOAD_FORMS.window.total_seconds()
    # Another student is not held back by the first one's count.
    assert client.post(url, json={"filename": "a.pdf"}, headers=factories.login(client, second)).status_code == 201


def test_a_refused_request_is_not_counted_and_a_new_window_starts_afresh(db, course):
    student = course["students"][0]
    limit = RateLimit("test_scope", 2, timedelta(minutes=10))
    start = utcnow()
    count_request(db, limit, student.id, start)
    count_request(db, limit, student.id, start + timedelta(seconds=1))
    for seconds in (2, 3, 4):
        with pytest.raises(RateLimited) as refused:
            count_request(db, limit, student.id, start + timedelta(seconds=seconds))
    assert refused.value.retry_after == 600 - 4
    count_request(db, limit, student.id, start + timedelta(minutes=10))  # the next window
    count_request(db, limit, student.id, start + timedelta(minutes=10, seconds=1))
    with pytest.raises(RateLimited):
        count_request(db, limit, student.id, start + timedelta(minutes=10, seconds=2))
