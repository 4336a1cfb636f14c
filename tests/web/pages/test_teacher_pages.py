"""Teacher pages (classes, class, publish, activity progress, reports) and the job pages, with
a real session login through the login form."""
from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from core.models import Activity, Job
from tests.sqsd import pump
from tests.web.pages.helpers import attr_values, csrf_token, elements, page_login


@pytest.fixture
def teacher_client(client, school):
    page_login(client, school["teacher"])
    return client


def html(response) -> str:
    return response.get_data(as_text=True)


def test_pages_need_a_login_and_the_teacher_role(client, school):
    response = client.get(f"/teacher/classes/{school['big'].id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    page_login(client, school["students"][0])
    assert client.get("/teacher/classes").status_code == 403
    assert client.get("/jobs").status_code == 200  # every role has a jobs page


def test_my_classes_links_to_each_of_mine_only(teacher_client, school):
    page = html(teacher_client.get("/teacher/classes"))
    links = [a["href"] for a in elements(page, "a", "data-class-link")]
    assert sorted(links) == sorted([f"/teacher/classes/{school['big'].id}", f"/teacher/classes/{school['small'].id}"])
    assert "45 students" in page


def test_class_page_paginates_students_in_pages_of_size(teacher_client, school):
    url = f"/teacher/classes/{school['big'].id}"
    first = html(teacher_client.get(f"{url}?size=20"))
    assert len(elements(first, "tr", "data-student")) == 20
    assert re.search(r"data-student-total>45<", first)
    assert elements(first, "a", "data-page-next") and not elements(first, "a", "data-page-prev")
    next_href = elements(first, "a", "data-page-next")[0]["href"]
    second = html(teacher_client.get(next_href))
    assert len(elements(second, "tr", "data-student")) == 20
    last = html(teacher_client.get(f"{url}?page=3&size=20"))
    assert len(elements(last, "tr", "data-student")) == 5
    assert elements(last, "a", "data-page-prev") and not elements(last, "a", "data-page-next")
    empty = teacher_client.get(f"{url}?page=4&size=20")
    assert empty.status_code == 200
    assert elements(html(empty), "tr", "data-student") == [] and re.search(r"data-student-total>45<", html(empty))
    seen = [row["data-student"] for page in (first, second, last) for row in elements(page, "tr", "data-student")]
    assert sorted(seen) == sorted(str(s.id) for s in school["students"]) and len(set(seen)) == 45
    assert teacher_client.get(f"{url}?page=0").status_code == 400
    assert teacher_client.get(f"{url}?size=500").status_code == 400


def test_class_page_search_keeps_the_query_in_pager_links(teacher_client, db, school):
    for n, student in enumerate(school["students"][:25]):
        student.full_name = f"Búsqueda {n:02d}"
    db.commit()
    url = f"/teacher/classes/{school['big'].id}"
    page = html(teacher_client.get(f"{url}?q=SQUEDA&size=20"))  # case-insensitive
    assert re.search(r"data-student-total>25<", page) and len(elements(page, "tr", "data-student")) == 20
    assert 'id="q"' in page and 'value="SQUEDA"' in page
    next_href = elements(page, "a", "data-page-next")[0]["href"]
    assert "q=SQUEDA" in next_href
    rest = html(teacher_client.get(next_href))
    assert len(elements(rest, "tr", "data-student")) == 5
    none = html(teacher_client.get(f"{url}?q=zzz-nobody"))
    assert re.search(r"data-student-total>0<", none) and "No student matches" in none


def test_class_page_has_activities_publish_link_and_report_form(teacher_client, db, school):
    from web.common.activities import publish_activity
    activity, _ = publish_activity(db, school["big"], school["teacher"], "Lista 1")
    db.commit()
    page = html(teacher_client.get(f"/teacher/classes/{school['big'].id}"))
    assert attr_values(page, "data-activity") == [str(activity.id)]
    assert f'href="/teacher/activities/{activity.id}"' in page
    assert f'id="publish-activity" class="button" href="/teacher/classes/{school["big"].id}/activities/new"' in page
    form = next(f for f in elements(page, "form", "id") if f["id"] == "report-form")
    assert form["action"] == f"/teacher/classes/{school['big'].id}/reports" and form["method"] == "post"
    for needle in ('id="report-kind"', 'value="class_roster"', 'value="class_grades"', 'id="report-format"',
                   'value="csv"', 'value="xlsx"', 'id="request-report"'):
        assert needle in page


def test_other_teachers_classes_and_activities_are_404(teacher_client, db, school):
    from web.common.activities import publish_activity
    activity, _ = publish_activity(db, school["theirs"], school["colleague"], "Deles")
    db.commit()
    theirs = school["theirs"].id
    assert teacher_client.get(f"/teacher/classes/{theirs}").status_code == 404
    assert teacher_client.get(f"/teacher/classes/{theirs}/activities/new").status_code == 404
    assert teacher_client.get(f"/teacher/activities/{activity.id}").status_code == 404
    assert teacher_client.get("/teacher/classes/999999").status_code == 404


def test_publishing_without_the_csrf_token_is_refused_and_changes_nothing(teacher_client, db, school):
    response = teacher_client.post(f"/teacher/classes/{school['small'].id}/activities/new",
                                   data={"title": "Forged", "description": "", "due_at": ""})
    assert response.status_code == 400
    assert db.scalar(sa.select(sa.func.count(Activity.id))) == 0
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 0


def test_publish_form_says_utc_and_bad_input_re_renders_with_400(teacher_client, db, school):
    url = f"/teacher/classes/{school['small'].id}/activities/new"
    form = html(teacher_client.get(url))
    for needle in ('id="publish-form"', 'id="title"', 'id="description"', 'id="due_at"',
                   'type="datetime-local"', 'id="publish"', "UTC"):
        assert needle in form
    token = csrf_token(teacher_client, url)
    for data in ({"title": "  ", "due_at": ""}, {"title": "x" * 201}, {"title": "Ok", "due_at": "tomorrow"},
                 {"title": "Ok", "due_at": "2026-12-01T10:00+02:00"}):
        response = teacher_client.post(url, data={**data, "csrf_token": token})
        assert response.status_code == 400, data
        assert 'class="error"' in html(response) and 'id="publish-form"' in html(response)
    kept = teacher_client.post(url, data={"title": "Keep me", "description": "Text", "due_at": "nope",
                                          "csrf_token": token})
    assert 'value="Keep me"' in html(kept) and ">Text</textarea>" in html(kept)
    assert db.scalar(sa.select(sa.func.count(Activity.id))) == 0
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 0


def test_publish_redirects_to_live_progress_and_the_summary_arrives(teacher_client, worker_client, db, sqs, aws,
                                                                    school):
    url = f"/teacher/classes/{school['small'].id}/activities/new"
    token = csrf_token(teacher_client, url)
    form = {"title": "Ensaio", "description": "Duas páginas", "due_at": "2030-12-01T23:59", "csrf_token": token}
    confirm = teacher_client.post(url, data=form)  # first the confirmation, naming who is emailed
    assert confirm.status_code == 200 and 'data-students="2"' in html(confirm)
    assert "2 students of" in html(confirm) and db.scalar(sa.select(sa.func.count(Activity.id))) == 0
    response = teacher_client.post(url, data={**form, "confirmed": "1"})
    assert response.status_code == 303
    activity = db.scalar(sa.select(Activity))
    assert response.headers["Location"].endswith(f"/teacher/activities/{activity.id}")
    assert activity.due_at.isoformat() == "2030-12-01T23:59:00+00:00"  # read as UTC (no zone stored)
    fanout = db.scalar(sa.select(Job).where(Job.type == "activity_fanout"))
    assert fanout.published_at is not None  # the outbox was flushed: the message is on the queue

    before = html(teacher_client.get(response.headers["Location"]))
    assert "Ensaio" in before and "2030-12-01 23:59 UTC" in before
    assert re.search(r"data-batch-sent>0<", before) and re.search(r"data-batch-total>2<", before)
    assert "data-batch-progress" in before and f'data-poll-url="/api/activities/{activity.id}"' in before
    assert 'data-finished="false"' in before and "teacher.js" in before

    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=20)
    after = html(teacher_client.get(response.headers["Location"]))
    assert re.search(r"data-batch-sent>2<", after) and re.search(r"data-batch-failed>0<", after)
    assert re.search(r"data-batch-total>2<", after) and 'data-finished="true"' in after
    assert "Activity &#39;Ensaio&#39;: emailed 2 of 2 students" in after
    api = teacher_client.get(f"/api/activities/{activity.id}")  # the JS polls this with the session cookie
    assert api.status_code == 200 and api.get_json()["finished"] is True


def test_report_request_goes_to_the_job_page_and_coalesces(teacher_client, db, school):
    url = f"/teacher/classes/{school['big'].id}/reports"
    token = csrf_token(teacher_client, f"/teacher/classes/{school['big'].id}")
    first = teacher_client.post(url, data={"kind": "class_grades", "format": "xlsx", "csrf_token": token})
    assert first.status_code == 303
    job = db.scalar(sa.select(Job).where(Job.type == "report"))
    assert first.headers["Location"].endswith(f"/jobs/{job.id}")
    assert job.payload == {"kind": "class_grades", "class_id": school["big"].id, "format": "xlsx"}
    again = teacher_client.post(url, data={"kind": "class_grades", "format": "xlsx", "csrf_token": token})
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 1

    bad = teacher_client.post(url, data={"kind": "payroll", "format": "csv", "csrf_token": token})
    assert bad.status_code == 400 and 'class="error"' in html(bad)
    assert teacher_client.post(url, data={"kind": "class_roster", "format": "csv"}).status_code == 400  # no token
    theirs = f"/teacher/classes/{school['theirs'].id}/reports"
    assert teacher_client.post(theirs, data={"kind": "class_roster", "format": "csv", "csrf_token": token}).status_code == 404
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 1


def test_report_quota_re_renders_the_class_page_with_429(teacher_client, db, school, web_app):
    token = csrf_token(teacher_client, f"/teacher/classes/{school['big'].id}")
    limit = web_app.extensions["aula"].settings.max_jobs_in_flight
    asks = [(cls, kind, fmt) for cls in ("big", "small") for kind in ("class_roster", "class_grades")
            for fmt in ("csv", "xlsx")]
    for cls, kind, fmt in asks[:limit]:
        response = teacher_client.post(f"/teacher/classes/{school[cls].id}/reports",
                                       data={"kind": kind, "format": fmt, "csrf_token": token})
        assert response.status_code == 303
    cls, kind, fmt = asks[limit]
    refused = teacher_client.post(f"/teacher/classes/{school[cls].id}/reports",
                                  data={"kind": kind, "format": fmt, "csrf_token": token})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "10"
    assert 'class="error"' in html(refused) and "requests in progress" in html(refused)
    assert 'id="report-form"' in html(refused)
    assert db.scalar(sa.select(sa.func.count(Job.id))) == limit


def test_job_page_shows_state_progress_and_download_then_cancel(teacher_client, db, school, client):
    token = csrf_token(teacher_client, f"/teacher/classes/{school['big'].id}")
    location = teacher_client.post(f"/teacher/classes/{school['big'].id}/reports",
                                   data={"kind": "class_roster", "format": "csv", "csrf_token": token}
                                   ).headers["Location"]
    job = db.scalar(sa.select(Job))
    page = html(teacher_client.get(location))
    assert re.search(r"data-job-state>queued<", page) and 'data-job-progress max="100"' in page
    assert f'data-poll-url="/api/jobs/{job.id}"' in page and 'id="cancel-job"' in page
    assert "Report: roster (CSV) of " + school["big"].code in page
    assert 'data-download-wrap hidden' in page

    job.state, job.progress = "succeeded", 100
    job.result = {"file_key": "reports/x/roster.csv", "filename": "roster.csv", "rows": 45}
    db.commit()
    done = html(teacher_client.get(location))
    assert re.search(r"data-job-state>succeeded<", done)
    assert elements(done, "a", "data-download")[0]["href"] == f"/api/jobs/{job.id}/download"
    assert 'data-finished="true"' in done

    job.state, job.result = "queued", None
    db.commit()
    cancelled = teacher_client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303 and cancelled.headers["Location"].endswith(f"/jobs/{job.id}")
    db.expire_all()
    assert db.get(Job, job.id).state == "cancelled"
    assert re.search(r"data-job-state>cancelled<", html(teacher_client.get(location)))


def test_jobs_are_owner_only_and_cancel_needs_the_token(client, db, school):
    from core.jobs.outbox import new_job
    job = new_job(db, "report", {"kind": "class_roster", "class_id": school["theirs"].id, "format": "csv"},
                  school["colleague"].id)
    db.commit()
    page_login(client, school["teacher"])
    assert client.get(f"/jobs/{job.id}").status_code == 404
    assert client.get(f"/jobs/{uuid.uuid4()}").status_code == 404
    assert client.get("/jobs/not-a-uuid").status_code == 404
    token = csrf_token(client, "/jobs")
    assert client.post(f"/jobs/{job.id}/cancel", data={"csrf_token": token}).status_code == 404
    client.post("/logout", data={"csrf_token": token})
    page_login(client, school["colleague"])
    assert client.post(f"/jobs/{job.id}/cancel").status_code == 400  # no CSRF token
    db.expire_all()
    assert db.get(Job, job.id).state == "queued"


def test_my_jobs_paginates_and_filters_by_state(teacher_client, db, school):
    from web.common.activities import publish_activity
    for n in range(23):
        publish_activity(db, school["small"], school["teacher"], f"A{n}")
    db.commit()
    some = db.scalars(sa.select(Job.id).order_by(Job.id).limit(3)).all()
    db.execute(sa.update(Job).where(Job.id.in_(some)).values(state="failed"))
    db.commit()
    pages = [html(teacher_client.get(f"/jobs?size=10&page={p}")) for p in (1, 2, 3, 4)]
    assert [len(elements(p, "tr", "data-job")) for p in pages] == [10, 10, 3, 0]
    assert teacher_client.get("/jobs?page=4&size=10").status_code == 200
    assert elements(pages[0], "a", "data-page-next") and not elements(pages[2], "a", "data-page-next")
    assert 'id="state"' in pages[0]
    failed = html(teacher_client.get("/jobs?state=failed"))
    assert len(elements(failed, "tr", "data-job")) == 3
    assert set(re.findall(r"data-job-state>(\w+)<", failed)) == {"failed"}
    ids = [row["data-job"] for row in elements(failed, "tr", "data-job")]
    assert all(f'href="/jobs/{i}"' in failed for i in ids)
    assert teacher_client.get("/jobs?state=bogus").status_code == 400


def test_my_jobs_pages_by_cursor_with_its_filter(teacher_client, db, school):
    from html import unescape

    from web.common.activities import publish_activity
    for n in range(23):
        publish_activity(db, school["small"], school["teacher"], f"A{n}")
    db.commit()
    first = html(teacher_client.get("/jobs?size=10&state=queued"))
    nxt = elements(first, "a", "data-page-next")[0]["href"]
    assert "after=" in nxt and "state=queued" in nxt
    second = html(teacher_client.get(unescape(nxt)))
    assert len(elements(second, "tr", "data-job")) == 10 and "page 2 of 3" in second
    seen = {row["data-job"] for page in (first, second) for row in elements(page, "tr", "data-job")}
    assert len(seen) == 20
    prev = elements(second, "a", "data-page-prev")[0]["href"]
    assert "before=" in prev
    assert elements(html(teacher_client.get(unescape(prev))), "tr", "data-job") == elements(first, "tr", "data-job")
