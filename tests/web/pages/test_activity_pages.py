"""The activity page and the teacher's activity forms (issue 13): who may open it, the
description's links made safe, times in the viewer's zone, the student's status, the past-due
confirmation, the publish confirmation naming the count, scheduling, edit and unpublish, and the
account page's time zone."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.models import Activity, Grade, Notification, Submission, User
from tests import factories
from tests.web.pages.helpers import csrf_token, elements, page_login
from web.common.activities import publish_to_class


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def course(db):
    inst = factories.institution(db)
    teacher = factories.user(db, inst, "teacher")
    group, pupils = factories.school_class(db, teacher, students=3)
    colleague = factories.user(db, inst, "teacher")
    outsider = factories.user(db, inst, "student")  # same school, not in the class
    due = datetime(2030, 7, 1, 21, 30, tzinfo=UTC)
    activity, _job = publish_to_class(
        db, group.id, teacher, "Ensayo",
        'Read https://example.org/a?x=1&y=2 (and http://example.net/b). <script>alert(1)</script>\n'
        'javascript:alert(2) <a href="https://evil.example">x</a>', due)
    db.commit()
    return {"teacher": teacher, "class": group, "pupils": pupils, "colleague": colleague, "outsider": outsider,
            "activity": activity}


def test_the_class_students_and_teacher_see_it_everyone_else_404(client, db, course):
    url = f"/activities/{course['activity'].id}"
    for person in (course["colleague"], course["outsider"]):
        page_login(client, person)
        assert client.get(url).status_code == 404
        client.post("/logout", data={"csrf_token": csrf_token(client, "/notifications")})
    page_login(client, course["teacher"])
    page = html(client.get(url))
    assert "Ensayo" in page and 'id="edit-activity"' in page and 'id="unpublish-activity"' in page
    assert f'href="/activities/{course["activity"].id}/submissions"' in page
    client.post("/logout", data={"csrf_token": csrf_token(client, "/notifications")})
    page_login(client, course["pupils"][0])
    page = html(client.get(url))
    assert f'href="/activities/{course["activity"].id}/submit"' in page and 'data-my-status="not_submitted"' in page
    assert client.get("/activities/999999").status_code == 404


def test_the_description_is_escaped_and_only_http_links_become_links(client, course):
    page_login(client, course["pupils"][0])
    page = html(client.get(f"/activities/{course['activity'].id}"))
    links = [a for a in elements(page, "a", "rel") if a.get("target") == "_blank"]
    assert [a["href"] for a in links] == ["https://example.org/a?x=1&y=2", "http://example.net/b",
                                          "https://evil.example"]
    assert all(a["rel"] == "nofollow noopener noreferrer" for a in links)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript' not in page and "&lt;a href=" in page  # the teacher's own tag stays text


def test_times_are_in_the_viewer_zone_named_and_utc_without_one(client, db, course):
    student = course["pupils"][0]
    page_login(client, student)
    url = f"/activities/{course['activity'].id}"
    assert "2030-07-01 21:30 UTC" in html(client.get(url))
    db.execute(sa.update(User).where(User.id == student.id).values(time_zone="Europe/Madrid"))
    db.commit()
    page = html(client.get(url))
    assert "2030-07-01 23:30 Europe/Madrid (CEST)" in page and 'datetime="2030-07-01T21:30:00Z"' in page
    # The guessing script is only sent to users without a zone.
    assert "timezone.js" not in page


def test_the_student_status_follows_submissions_and_grades(client, db, course):
    activity, student = course["activity"], course["pupils"][0]
    page_login(client, student)
    url = f"/activities/{activity.id}"
    submission = Submission(activity_id=activity.id, student_id=student.id, body="mine", late=True)
    db.add(submission)
    db.commit()
    assert 'data-my-status="late"' in html(client.get(url))
    submission.late = False
    db.commit()
    assert 'data-my-status="submitted"' in html(client.get(url))
    db.add(Grade(activity_id=activity.id, student_id=student.id, score=9, graded_at=utcnow()))
    db.commit()
    assert 'data-my-status="graded"' in html(client.get(url))
    class_page = html(client.get(f"/student/classes/{course['class'].id}"))
    assert f'href="/activities/{activity.id}"' in class_page and 'data-my-status="graded"' in class_page


def test_publishing_warns_of_a_past_due_date_then_names_the_count_then_publishes(client, db, course):
    teacher, group = course["teacher"], course["class"]
    db.execute(sa.update(User).where(User.id == teacher.id).values(time_zone="America/Bogota"))
    db.commit()
    page_login(client, teacher)
    url = f"/teacher/classes/{group.id}/activities/new"
    token = csrf_token(client, url)
    form = {"title": "Quiz", "description": "", "due_at": "2020-01-01T08:00", "when": "now", "csrf_token": token}
    warned = client.post(url, data=form)
    assert warned.status_code == 400 and 'id="past-due-warning"' in html(warned)
    assert 'name="confirm_past_due"' in html(warned)
    confirm = client.post(url, data={**form, "confirm_past_due": "1"})
    assert confirm.status_code == 200 and 'data-students="3"' in html(confirm)
    assert "Publish and email 3 students" in html(confirm)
    assert db.scalar(sa.select(sa.func.count(Activity.id)).where(Activity.title == "Quiz")) == 0
    done = client.post(url, data={**form, "confirm_past_due": "1", "confirmed": "1"})
    assert done.status_code == 303
    activity = db.scalar(sa.select(Activity).where(Activity.title == "Quiz"))
    assert activity.due_at == datetime(2020, 1, 1, 13, 0, tzinfo=UTC)  # 08:00 in Bogotá (UTC-5)


def test_scheduling_from_the_page_and_cancelling_it(client, db, course):
    page_login(client, course["teacher"])
    url = f"/teacher/classes/{course['class'].id}/activities/new"
    token = csrf_token(client, url)
    when = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    form = {"title": "Later", "description": "", "due_at": "", "when": "later", "publish_at": when,
            "csrf_token": token}
    confirm = client.post(url, data=form)
    assert confirm.status_code == 200 and "Schedule" in html(confirm)
    done = client.post(url, data={**form, "confirmed": "1"})
    assert done.status_code == 303
    activity = db.scalar(sa.select(Activity).where(Activity.title == "Later"))
    assert activity.status == "scheduled" and activity.published_at is None
    assert done.headers["Location"].endswith(f"/activities/{activity.id}")
    page = html(client.get(f"/activities/{activity.id}"))
    assert "Scheduled for" in page and ">Cancel<" in page
    past = client.post(url, data={**form, "publish_at": "2020-01-01T08:00"})
    assert past.status_code == 400 and "publish time has passed" in html(past)

    ask = html(client.get(f"/teacher/activities/{activity.id}/unpublish"))
    assert "nobody is told" in ask
    assert client.post(f"/teacher/activities/{activity.id}/unpublish", data={"csrf_token": token}).status_code == 303
    db.expire_all()
    assert db.get(Activity, activity.id).status == "unpublished"
    assert db.scalar(sa.select(sa.func.count(Notification.id))) == 0


def test_editing_from_the_page_tells_students_once_and_unpublishing_asks_first(client, db, course):
    activity = course["activity"]
    page_login(client, course["teacher"])
    url = f"/teacher/activities/{activity.id}/edit"
    form_page = html(client.get(url))
    assert 'value="Ensayo"' in form_page and 'value="2030-07-01T21:30"' in form_page
    token = csrf_token(client, url)
    form = {"title": "Ensayo final", "description": "New text", "due_at": "2030-07-01T21:30", "csrf_token": token}
    assert client.post(url, data=form).status_code == 303
    assert client.post(url, data={**form, "title": "Ensayo final 2"}).status_code == 303
    changed = db.scalars(sa.select(Notification).where(Notification.kind == "activity_changed")).all()
    assert len(changed) == 3  # one per student, not one per edit
    warned = client.post(url, data={**form, "due_at": "2020-01-01T00:00"})
    assert warned.status_code == 400 and 'id="past-due-warning"' in html(warned)
    assert client.post(url, data={**form, "title": ""}).status_code == 400

    ask = html(client.get(f"/teacher/activities/{activity.id}/unpublish"))
    assert 'data-students="3"' in ask
    assert client.post(f"/teacher/activities/{activity.id}/unpublish", data={}).status_code == 400  # no CSRF token
    assert client.post(f"/teacher/activities/{activity.id}/unpublish", data={"csrf_token": token}).status_code == 303
    db.expire_all()
    assert db.get(Activity, activity.id).status == "unpublished"
    assert client.get(url).status_code == 409
    client.post("/logout", data={"csrf_token": token})
    page_login(client, course["pupils"][0])
    assert client.get(f"/activities/{activity.id}").status_code == 404


def test_the_inbox_links_each_notification(client, db, course):
    student = course["pupils"][0]
    db.add(Notification(user_id=student.id, kind="activity_published", title="Go", body="", dedupe_key="x:1",
                        link=f"/activities/{course['activity'].id}", created_at=utcnow()))
    db.add(Notification(user_id=student.id, kind="activity_published", title="Bad", body="", dedupe_key="x:2",
                        link="javascript:alert(1)", created_at=utcnow()))
    db.commit()
    page_login(client, student)
    links = [a["href"] for a in elements(html(client.get("/notifications")), "a", "data-link")]
    assert links == [f"/activities/{course['activity'].id}"]


def test_the_account_page_sets_the_time_zone(client, db, course):
    student = course["pupils"][0]
    page_login(client, student)
    page = html(client.get("/account"))
    assert 'id="time_zone"' in page and "timezone.js" in page and '<option value="Europe/Madrid">' in page
    token = csrf_token(client, "/account")
    assert client.post("/account/time-zone", data={"time_zone": "Nowhere/City", "csrf_token": token}).status_code == 400
    assert client.post("/account/time-zone", data={"time_zone": "Asia/Tokyo"}).status_code == 400  # no CSRF token
    saved = client.post("/account/time-zone", data={"time_zone": "Asia/Tokyo", "csrf_token": token})
    assert saved.status_code == 303
    guess = client.post("/account/time-zone", data={"time_zone": "Europe/Lisbon", "guess": "1", "csrf_token": token})
    assert guess.status_code == 303
    db.expire_all()
    assert db.get(User, student.id).time_zone == "Asia/Tokyo"  # a guess never replaces a choice
    assert "Asia/Tokyo" in html(client.get("/account"))
