"""Student pages: my classes with their published activities, and a page per class."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.models import Activity, Enrollment
from tests import factories
from tests.web.pages.helpers import elements, page_login

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def _activity(db, school_class, title: str, published: bool = True, due: datetime | None = None, n: int = 0):
    activity = Activity(class_id=school_class.id, title=title, description="", due_at=due,
                        published_at=NOW + timedelta(minutes=n) if published else None)
    db.add(activity)
    db.flush()
    return activity


@pytest.fixture
def world(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    student = factories.user(db, school, "student")
    mine = []
    for _ in range(3):
        group, _ = factories.school_class(db, teacher)
        db.add(Enrollment(class_id=group.id, student_id=student.id))
        mine.append(group)
    other_class, _ = factories.school_class(db, teacher, students=1)
    _activity(db, mine[0], "Lista 1", due=NOW + timedelta(days=7), n=1)
    _activity(db, mine[0], "Rascunho", published=False)
    _activity(db, mine[1], "Seminário", n=2)
    _activity(db, other_class, "Not yours", n=3)
    db.commit()
    return {"student": student, "teacher": teacher, "mine": mine, "other": other_class}


def test_my_classes_list_my_classes_with_their_published_activities(client, world):
    page_login(client, world["student"])
    response = client.get("/student/classes")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert sorted(int(c["data-class"]) for c in elements(html, "li", "data-class")) == sorted(c.id for c in world["mine"])
    links = [a["href"] for a in elements(html, "a", "data-class-link")]
    assert links == [f"/student/classes/{c.id}" for c in sorted(world["mine"], key=lambda c: c.code)]
    assert len(elements(html, "li", "data-activity")) == 2
    assert "Lista 1" in html and "Seminário" in html and "2024-05-08" in html, "title and due date"
    assert "Rascunho" not in html and "Not yours" not in html


def test_the_classes_list_is_paginated(client, world):
    page_login(client, world["student"])
    counts = []
    for page in (1, 2, 3):
        response = client.get(f"/student/classes?page={page}&size=2")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert 'data-total="3"' in html
        counts.append(len(elements(html, "li", "data-class")))
    assert counts == [2, 1, 0]
    assert client.get("/student/classes?size=0").status_code == 400


def test_a_class_page_lists_its_activities_paginated(client, db, world):
    group = world["mine"][2]
    for i in range(25):
        _activity(db, group, f"Task {i:02d}", n=10 + i)
    db.commit()
    page_login(client, world["student"])
    counts = []
    for page in (1, 2, 3, 4):
        response = client.get(f"/student/classes/{group.id}?page={page}&size=10")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert 'data-total="25"' in html
        counts.append(len(elements(html, "li", "data-activity")))
    assert counts == [10, 10, 5, 0]
    first = client.get(f"/student/classes/{group.id}?size=10").get_data(as_text=True)
    assert "Task 24" in first and "no due date" in first, "newest first"


def test_a_class_i_am_not_in_is_404(client, world):
    page_login(client, world["student"])
    assert client.get(f"/student/classes/{world['other'].id}").status_code == 404
    assert client.get("/student/classes/999999").status_code == 404


def test_student_pages_are_for_students(client, world):
    assert client.get("/student/classes").status_code == 302  # to the login page
    page_login(client, world["teacher"])
    assert client.get("/student/classes").status_code == 403
    assert client.get(f"/student/classes/{world['mine'][0].id}").status_code == 403
