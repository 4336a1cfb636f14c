"""The classes API: paginated and filtered in SQL, scoped by role and institution, and the
activity progress resource the publish page polls."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from core.models import Activity, Job
from tests import factories
from tests.sqsd import pump
from web.common.activities import publish_activity


def test_students_paginate_over_several_pages_with_totals(client, school):
    headers = factories.login(client, school["teacher"])
    url = f"/api/classes/{school['big'].id}/students"
    expected = sorted(school["students"], key=lambda s: (s.full_name, s.id))
    seen = []
    for page, count in ((1, 20), (2, 20), (3, 5)):
        body = client.get(f"{url}?page={page}&size=20", headers=headers).get_json()
        assert (body["page"], body["size"], body["total"], body["pages"]) == (page, 20, 45, 3)
        assert len(body["items"]) == count
        seen += [item["id"] for item in body["items"]]
    assert seen == [s.id for s in expected]  # ordered by name, no gaps, no repeats
    past_the_end = client.get(f"{url}?page=4&size=20", headers=headers)
    assert past_the_end.status_code == 200
    assert past_the_end.get_json()["items"] == [] and past_the_end.get_json()["total"] == 45
    default = client.get(url, headers=headers).get_json()
    assert (default["page"], default["size"], len(default["items"])) == (1, 20, 20)


def test_students_search_filters_in_sql_and_counts_the_matches(client, db, school):
    headers = factories.login(client, school["teacher"])
    marked = school["students"][:3]
    for n, student in enumerate(marked):
        student.full_name = f"Zélia Marcada {n}"
    school["students"][3].email = "MARCADA-by-email@example.test"
    db.commit()
    url = f"/api/classes/{school['big'].id}/students"
    body = client.get(f"{url}?q=marcada&size=2", headers=headers).get_json()
    assert (body["total"], body["pages"], len(body["items"])) == (4, 2, 2)
    last = client.get(f"{url}?q=marcada&size=2&page=2", headers=headers).get_json()
    ids = {i["id"] for i in body["items"] + last["items"]}
    assert ids == {s.id for s in school["students"][:4]}
    none = client.get(f"{url}?q=nobody-like-this", headers=headers).get_json()
    assert (none["total"], none["items"], none["pages"]) == (0, [], 1)


@pytest.mark.parametrize("query, field", [("page=0", "page"), ("page=x", "page"), ("size=101", "size"),
                                           ("size=-1", "size"), ("q=" + "a" * 101, "q")])
def test_bad_page_parameters_are_400_with_the_field(client, school, query, field):
    headers = factories.login(client, school["teacher"])
    response = client.get(f"/api/classes/{school['big'].id}/students?{query}", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_class_list_is_scoped_and_counts_students(client, school):
    body = client.get("/api/classes?size=1", headers=factories.login(client, school["teacher"])).get_json()
    assert (body["total"], body["pages"], len(body["items"])) == (2, 2, 1)
    both = client.get("/api/classes", headers=factories.login(client, school["teacher"])).get_json()["items"]
    assert {c["id"]: c["students"] for c in both} == {school["big"].id: 45, school["small"].id: 2}
    assert both[0]["teacher"]["id"] == school["teacher"].id
    admin = client.get("/api/classes", headers=factories.login(client, school["admin"])).get_json()
    assert admin["total"] == 3
    student = client.get("/api/classes", headers=factories.login(client, school["students"][0])).get_json()
    assert [c["id"] for c in student["items"]] == [school["big"].id]
    stranger = client.get("/api/classes", headers=factories.login(client, school["stranger"])).get_json()
    assert (stranger["total"], stranger["items"]) == (0, [])
    assert client.get("/api/classes?page=2&size=100", headers=factories.login(client, school["admin"])).get_json()[
        "items"] == []
    assert client.get("/api/classes?size=0", headers=factories.login(client, school["admin"])).status_code == 400


def test_other_teachers_and_other_institutions_get_404_and_students_403(client, school):
    big = school["big"].id
    for who in ("colleague", "stranger"):
        headers = factories.login(client, school[who])
        for path in (f"/api/classes/{big}", f"/api/classes/{big}/students", f"/api/classes/{big}/activities"):
            assert client.get(path, headers=headers).status_code == 404, (who, path)
    admin = factories.login(client, school["admin"])
    assert client.get(f"/api/classes/{big}/students", headers=admin).get_json()["total"] == 45
    student = factories.login(client, school["students"][0])
    assert client.get(f"/api/classes/{big}", headers=student).get_json()["class"]["students"] == 45
    assert client.get(f"/api/classes/{big}/students", headers=student).status_code == 403
    assert client.get(f"/api/classes/{big}/activities", headers=student).status_code == 200
    assert client.get(f"/api/classes/{school['small'].id}", headers=student).status_code == 404
    assert client.get("/api/classes/999999", headers=admin).status_code == 404
    assert client.get(f"/api/classes/{big}").status_code == 401


def test_activities_paginate_newest_first(client, db, school):
    for n in range(23):
        publish_activity(db, school["big"], school["teacher"], f"Lista {n:02d}")
    db.commit()
    headers = factories.login(client, school["teacher"])
    url = f"/api/classes/{school['big'].id}/activities?size=10"
    pages = [client.get(f"{url}&page={p}", headers=headers).get_json() for p in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [10, 10, 3, 0]
    assert {p["total"] for p in pages} == {23}
    titles = [i["title"] for p in pages for i in p["items"]]
    assert titles == [f"Lista {n:02d}" for n in reversed(range(23))]


def test_activity_progress_before_and_after_the_fan_out(client, worker_client, db, sqs, aws, school):
    headers = factories.login(client, school["teacher"])
    small = school["small"]
    response = client.post(f"/api/classes/{small.id}/activities", headers=headers, json={"title": "Ensaio"})
    activity_id = response.get_json()["activity"]["id"]

    before = client.get(f"/api/activities/{activity_id}", headers=headers)
    assert before.status_code == 200
    body = before.get_json()
    assert body["batch"] is None and body["summary"] is None and body["finished"] is False
    assert body["activity"]["title"] == "Ensaio" and body["students"] == 2
    assert body["job"]["type"] == "activity_fanout"
    assert before.headers["Retry-After"] == "2" and before.headers["ETag"]
    unchanged = client.get(f"/api/activities/{activity_id}", headers={**headers, "If-None-Match": before.headers["ETag"]})
    assert unchanged.status_code == 304

    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=20)
    after = client.get(f"/api/activities/{activity_id}", headers=headers)
    body = after.get_json()
    assert body["batch"]["total"] == 2 and body["batch"]["succeeded"] == 2 and body["batch"]["failed"] == 0
    assert body["batch"]["completed_at"] is not None
    assert body["summary"] == "Activity 'Ensaio': emailed 2 of 2 students"
    assert body["finished"] is True and "Retry-After" not in after.headers

    # Not visible: 404. Visible (the class's students, the institution's admins) but not theirs: 403.
    for who, status in (("colleague", 404), ("stranger", 404), ("admin", 403)):
        response = client.get(f"/api/activities/{activity_id}", headers=factories.login(client, school[who]))
        assert response.status_code == status, who
    not_enrolled = factories.login(client, school["students"][0])  # in the big class, not the small one
    assert client.get(f"/api/activities/{activity_id}", headers=not_enrolled).status_code == 404


def test_activity_progress_stops_when_the_fan_out_failed(client, db, school):
    activity, job = publish_activity(db, school["small"], school["teacher"], "Nunca")
    job.state = "failed"
    db.commit()
    response = client.get(f"/api/activities/{activity.id}", headers=factories.login(client, school["teacher"]))
    assert response.get_json()["finished"] is True and "Retry-After" not in response.headers


def test_an_activity_added_without_a_fan_out_says_so_and_is_not_polled(client, db, school):
    """The demo data's activities: no fan-out job, no batch. Nothing is coming; say so."""
    from datetime import UTC, datetime

    activity = Activity(class_id=school["small"].id, title="Demo", description="", published_at=datetime.now(UTC))
    db.add(activity)
    db.commit()
    response = client.get(f"/api/activities/{activity.id}", headers=factories.login(client, school["teacher"]))
    body = response.get_json()
    assert response.status_code == 200 and "Retry-After" not in response.headers
    assert body["finished"] is True and body["job"] is None and body["batch"] is None
    assert body["status"].startswith("No notifications were sent")

    from tests.web.pages.helpers import page_login

    page_login(client, school["teacher"])
    html = client.get(f"/teacher/activities/{activity.id}").get_data(as_text=True)
    assert 'data-finished="true"' in html and "No notifications were sent" in html
    assert "Waiting for the worker" not in html


def test_my_jobs_lists_own_top_level_jobs_paginated_and_filtered(client, db, school):
    teacher = school["teacher"]
    for n in range(25):
        publish_activity(db, school["small"], teacher, f"A{n}")
    db.commit()
    db.execute(sa.update(Job).where(Job.type == "activity_fanout").where(
        Job.id.in_(sa.select(Job.id).order_by(Job.id).limit(4).scalar_subquery()))
        .values(state="succeeded"))
    publish_activity(db, school["theirs"], school["colleague"], "Not mine")
    db.commit()
    headers = factories.login(client, teacher)
    pages = [client.get(f"/api/jobs?size=10&page={p}", headers=headers).get_json() for p in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [10, 10, 5, 0]
    assert {p["total"] for p in pages} == {25} and pages[0]["pages"] == 3
    assert len({i["id"] for p in pages for i in p["items"]}) == 25
    done = client.get("/api/jobs?state=succeeded", headers=headers).get_json()
    assert done["total"] == 4 and {i["state"] for i in done["items"]} == {"succeeded"}
    bad = client.get("/api/jobs?state=finished", headers=headers)
    assert (bad.status_code, bad.get_json()["field"]) == (400, "state")
    assert client.get("/api/jobs?page=abc", headers=headers).get_json()["field"] == "page"
    assert client.get("/api/jobs", headers=factories.login(client, school["stranger"])).get_json()["total"] == 0
    assert uuid.UUID(pages[0]["items"][0]["id"])
    assert db.scalar(sa.select(sa.func.count(Activity.id))) == 26
