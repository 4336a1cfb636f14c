"""Activities through the API (issue 13): scheduling, the past-due guard rail, the count of
students targeted, editing and unpublishing with students told once, and who may do what."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.db import utcnow
from core.models import Activity, Institution, Job, Notification
from tests import factories


def _school(db, students: int = 3):
    teacher = factories.user(db, factories.institution(db), "teacher")
    group, pupils = factories.school_class(db, teacher, students=students)
    db.commit()
    return teacher, group, pupils


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_past_due_date_needs_confirmation_and_publishing_says_how_many_are_emailed(client, db):
    teacher, group, _ = _school(db, students=3)
    headers = factories.login(client, teacher)
    url = f"/api/classes/{group.id}/activities"
    past = _iso(utcnow() - timedelta(hours=1))
    refused = client.post(url, headers=headers, json={"title": "Late", "due_at": past})
    assert refused.status_code == 409 and refused.get_json()["field"] == "due_at"
    assert db.scalar(sa.select(sa.func.count(Activity.id))) == 0
    assert client.post(url, headers=headers, json={"title": "Late", "due_at": past,
                                                   "confirm_past_due": "yes"}).status_code == 400
    confirmed = client.post(url, headers=headers, json={"title": "Late", "due_at": past, "confirm_past_due": True})
    assert confirmed.status_code == 202, confirmed.get_json()
    body = confirmed.get_json()
    assert body["students"] == 3 and body["activity"]["status"] == "published"
    assert body["activity"]["path"] == f"/activities/{body['activity']['id']}"


def test_a_student_posting_a_past_due_activity_is_told_403_and_a_stranger_404(client, db):
    _teacher, group, pupils = _school(db, students=1)
    stranger = factories.user(db, factories.institution(db), "teacher")
    db.commit()
    past = {"title": "X", "due_at": _iso(utcnow() - timedelta(days=1))}
    url = f"/api/classes/{group.id}/activities"
    assert client.post(url, headers=factories.login(client, pupils[0]), json=past).status_code == 403
    assert client.post(url, headers=factories.login(client, stranger), json=past).status_code == 404


def test_scheduling_stores_the_activity_without_a_job_and_students_cannot_see_it(client, db):
    teacher, group, pupils = _school(db, students=2)
    headers = factories.login(client, teacher)
    later = utcnow() + timedelta(days=10)
    response = client.post(f"/api/classes/{group.id}/activities", headers=headers,
                           json={"title": "Next month", "publish_at": _iso(later), "allow_late": True})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["job"] is None and body["students"] == 2
    activity = body["activity"]
    assert activity["status"] == "scheduled" and activity["published_at"] is None and activity["allow_late"] is True
    assert activity["publish_at"] == _iso(later)
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 0  # no fan-out before its time, nothing in flight
    student = factories.login(client, pupils[0])
    listed = client.get(f"/api/classes/{group.id}/activities", headers=student).get_json()
    assert listed["items"] == []
    assert client.get(f"/activities/{activity['id']}").status_code in (302, 404)


def test_editing_tells_students_once_and_scheduled_edits_tell_nobody(client, db):
    teacher, group, pupils = _school(db, students=2)
    headers = factories.login(client, teacher)
    created = client.post(f"/api/classes/{group.id}/activities", headers=headers,
                          json={"title": "Ensayo", "due_at": _iso(utcnow() + timedelta(days=3))}).get_json()
    activity_id = created["activity"]["id"]
    url = f"/api/activities/{activity_id}"
    first = client.patch(url, headers=headers, json={"title": "Ensayo (v2)", "allow_late": True})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["notified"] == 2 and first.get_json()["activity"]["title"] == "Ensayo (v2)"
    second = client.patch(url, headers=headers, json={"description": "Now with a rubric"})
    assert second.status_code == 200 and second.get_json()["notified"] == 0  # told once, not per edit
    unchanged = client.patch(url, headers=headers, json={"description": "Now with a rubric"})
    assert unchanged.get_json()["notified"] == 0
    changed = db.scalars(sa.select(Notification).where(Notification.kind == "activity_changed")).all()
    assert sorted(n.user_id for n in changed) == sorted(p.id for p in pupils)
    assert {n.link for n in changed} == {f"/activities/{activity_id}"}
    row = db.get(Activity, activity_id, populate_existing=True)
    assert row.description == "Now with a rubric" and row.allow_late is True and row.updated_at is not None

    past = client.patch(url, headers=headers, json={"due_at": _iso(utcnow() - timedelta(minutes=5))})
    assert past.status_code == 409 and past.get_json()["field"] == "due_at"
    assert client.patch(url, headers=headers, json={"publish_at": _iso(utcnow() + timedelta(days=1))}).status_code == 409
    for bad, field in (({"title": ""}, "title"), ({"allow_late": "no"}, "allow_late"), ({"status": "x"}, "status"),
                       ({"due_at": "tomorrow"}, "due_at")):
        response = client.patch(url, headers=headers, json=bad)
        assert response.status_code == 400 and response.get_json()["field"] == field, bad

    scheduled = client.post(f"/api/classes/{group.id}/activities", headers=headers,
                            json={"title": "Later", "publish_at": _iso(utcnow() + timedelta(days=7))}).get_json()
    moved = utcnow() + timedelta(days=8)
    response = client.patch(f"/api/activities/{scheduled['activity']['id']}", headers=headers,
                            json={"publish_at": _iso(moved), "title": "Later still"})
    assert response.status_code == 200 and response.get_json()["notified"] == 0
    assert response.get_json()["activity"]["publish_at"] == _iso(moved)
    assert client.patch(f"/api/activities/{scheduled['activity']['id']}", headers=headers,
                        json={"publish_at": _iso(utcnow() - timedelta(hours=1))}).status_code == 409


def test_unpublishing_tells_each_student_once_and_hides_it_and_cancelling_tells_nobody(client, db):
    teacher, group, pupils = _school(db, students=2)
    headers = factories.login(client, teacher)
    created = client.post(f"/api/classes/{group.id}/activities", headers=headers, json={"title": "Oops"}).get_json()
    activity_id = created["activity"]["id"]
    done = client.post(f"/api/activities/{activity_id}/unpublish", headers=headers)
    assert done.status_code == 200 and done.get_json()["notified"] == 2
    assert done.get_json()["activity"]["status"] == "unpublished"
    again = client.post(f"/api/activities/{activity_id}/unpublish", headers=headers)
    assert again.status_code == 200 and again.get_json()["notified"] == 0
    assert client.patch(f"/api/activities/{activity_id}", headers=headers, json={"title": "Back"}).status_code == 409
    student = factories.login(client, pupils[0])
    assert client.get(f"/api/classes/{group.id}/activities", headers=student).get_json()["items"] == []

    scheduled = client.post(f"/api/classes/{group.id}/activities", headers=headers,
                            json={"title": "Never", "publish_at": _iso(utcnow() + timedelta(hours=5))}).get_json()
    cancelled = client.post(f"/api/activities/{scheduled['activity']['id']}/unpublish", headers=headers)
    assert cancelled.status_code == 200 and cancelled.get_json()["notified"] == 0
    row = db.get(Activity, scheduled["activity"]["id"], populate_existing=True)
    assert row.status == "unpublished" and row.publish_at is None
    withdrawn = db.scalars(sa.select(Notification).where(Notification.dedupe_key.like("activity-unpublished:%"))).all()
    assert len(withdrawn) == 2 and {n.activity_id for n in withdrawn} == {activity_id}


def test_only_the_teacher_edits_or_unpublishes_everyone_else_gets_404(client, db):
    teacher, group, pupils = _school(db, students=1)
    colleague = factories.user(db, db.get(Institution, teacher.institution_id), "teacher")  # same school
    db.commit()
    created = client.post(f"/api/classes/{group.id}/activities", headers=factories.login(client, teacher),
                          json={"title": "Mine"}).get_json()
    activity_id = created["activity"]["id"]
    for person in (pupils[0], colleague):
        headers = factories.login(client, person)
        assert client.patch(f"/api/activities/{activity_id}", headers=headers, json={"title": "x"}).status_code == 404
        assert client.post(f"/api/activities/{activity_id}/unpublish", headers=headers).status_code == 404
    assert db.get(Activity, activity_id, populate_existing=True).status == "published"


def test_time_zone_is_validated_stored_and_a_guess_never_replaces_a_choice(client, db):
    teacher, _group, _ = _school(db, students=0)
    headers = factories.login(client, teacher)
    assert client.get("/api/me/time-zone", headers=headers).get_json() == {"time_zone": None, "shown_in": "UTC"}
    for bad in ("Mars/Olympus", "", "europe/madrid", 5, "../../etc/passwd", "A" * 100):
        response = client.put("/api/me/time-zone", headers=headers, json={"time_zone": bad})
        assert response.status_code == 400 and response.get_json()["field"] == "time_zone", bad
    guess = client.put("/api/me/time-zone", headers=headers, json={"time_zone": "America/Bogota", "only_if_unset": True})
    assert guess.get_json() == {"time_zone": "America/Bogota", "shown_in": "America/Bogota", "changed": True}
    chosen = client.put("/api/me/time-zone", headers=headers, json={"time_zone": "Europe/Madrid"})
    assert chosen.get_json()["changed"] is True
    late_guess = client.put("/api/me/time-zone", headers=headers,
                            json={"time_zone": "Asia/Tokyo", "only_if_unset": True})
    assert late_guess.get_json() == {"time_zone": "Europe/Madrid", "shown_in": "Europe/Madrid", "changed": False}
    assert client.put("/api/me/time-zone", json={"time_zone": "UTC"}).status_code == 401


def test_notifications_carry_the_absolute_link(client, db, web_app):
    _teacher, _group, pupils = _school(db, students=1)
    db.add(Notification(user_id=pupils[0].id, kind="activity_published", title="T", body="", dedupe_key="t:1",
                        link="/activities/7", created_at=utcnow()))
    db.add(Notification(user_id=pupils[0].id, kind="activity_published", title="U", body="", dedupe_key="t:2",
                        link="https://evil.example/x", created_at=utcnow() - timedelta(minutes=1)))
    db.commit()
    items = client.get("/api/notifications", headers=factories.login(client, pupils[0])).get_json()["items"]
    base = web_app.extensions["aula"].settings.public_base_url
    assert [i["link"] for i in items] == [f"{base}/activities/7", None]
