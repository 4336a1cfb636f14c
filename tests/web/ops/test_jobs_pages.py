"""/ops/jobs and /ops/jobs/<id>: the list's filter form keeps its values, the rows, the pager,
a job's page (attempts, lineage, payload, the Insights query), its buttons, and the bulk
confirmation (operators only) that names the count and starts the bulk job."""
from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from core.models import Job
from core.models.ops import JobAttempt
from tests.web.ops.test_jobs_api import make
from tests.web.pages.helpers import attr_values, csrf_from, page_login


def test_students_and_teachers_are_refused_the_pages(client, db, staff):
    job = make(db, staff.teacher_a, "failed")
    db.commit()
    for person in (staff.student_a, staff.teacher_a):
        page_login(client, person)
        for path in ("/ops/jobs", f"/ops/jobs/{job.id}", "/ops/jobs/bulk?action=cancel"):
            assert client.get(path).status_code == 403, (person.role, path)


def test_the_list_filters_and_keeps_the_form_values(client, db, staff):
    wanted = make(db, staff.teacher_a, "failed", 1, error="SES Throttling")
    make(db, staff.teacher_a, "succeeded", 2)
    db.commit()
    page_login(client, staff.operator)
    html = client.get("/ops/jobs?state=failed&error=throttling&payload=class_id%3D7&sort=oldest").get_data(as_text=True)
    assert attr_values(html, "data-job") == [str(wanted.id)]
    assert 'value="throttling"' in html and 'value="class_id=7"' in html
    assert '<option value="failed" selected>' in html and '<option value="oldest" selected>' in html
    assert "SES Throttling" in html and 'id="bulk-reprocess"' in html


def test_a_bad_filter_is_shown_on_the_page_with_the_form(client, db, staff):
    page_login(client, staff.admin_a)
    response = client.get("/ops/jobs?type=nope&owner=someone")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "type must be one of" in html and 'value="someone"' in html
    assert 'id="bulk-reprocess"' not in html and 'name="institution"' not in html  # admins: no bulk, no institution


def test_pages_of_the_list_link_by_cursor(client, db, staff):
    for n in range(5):
        make(db, staff.teacher_a, "failed", n)
    db.commit()
    page_login(client, staff.operator)
    html = client.get("/ops/jobs?size=2&state=failed").get_data(as_text=True)
    [next_link] = attr_values(html.split("data-page-next", 1)[1], "href")[:1]
    assert "after=" in next_link and "state=failed" in next_link
    assert len(attr_values(client.get(next_link).get_data(as_text=True), "data-job")) == 2


def test_a_job_page_shows_attempts_lineage_payload_and_the_query(client, db, staff):
    original = make(db, staff.teacher_a, "failed", 0, payload={"kind": "class_roster", "class_id": 7, "format": "csv",
                                                                "token": "s3cret"})
    job = make(db, staff.teacher_a, "failed", 1, reprocess_of_id=original.id, origin="reprocess", error="boom")
    db.add(JobAttempt(job_id=job.id, attempt=1, started_at=job.started_at, finished_at=job.started_at
                      + timedelta(seconds=3), outcome="failed", error="boom", worker="i-1/7"))
    db.commit()
    page_login(client, staff.admin_a)
    html = client.get(f"/ops/jobs/{job.id}").get_data(as_text=True)
    assert 'data-attempt="1"' in html and "i-1/7" not in html  # workers are the operators' business
    assert f"/ops/jobs/{original.id}" in html and "data-lineage-reprocess-of" in html
    assert f'filter job_id = &#34;{job.id}&#34;' in html or f'filter job_id = "{job.id}"' in html
    assert 'id="reprocess-job"' in html and 'id="cancel-job"' not in html and 'data-finished="true"' in html
    original_html = client.get(f"/ops/jobs/{original.id}").get_data(as_text=True)
    assert "s3cret" not in original_html and "[redacted]" in original_html
    assert client.get(f"/ops/jobs/{uuid.uuid4()}").status_code == 404
    assert client.get("/ops/jobs/not-a-uuid").status_code == 404
    page_login(client, staff.operator)
    assert "i-1/7" in client.get(f"/ops/jobs/{job.id}").get_data(as_text=True)


def test_the_bulk_confirmation_names_the_count_and_starts_the_job(client, db, staff):
    for n in range(3):
        make(db, staff.teacher_a, "failed", n)
    db.commit()
    page_login(client, staff.operator)
    confirm = client.get("/ops/jobs/bulk?action=reprocess&state=failed")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Reprocess 3 jobs?" in html and 'name="expected_count" value="3"' in html
    started = client.post("/ops/jobs/bulk", data={"csrf_token": csrf_from(html), "action": "reprocess",
                                                  "expected_count": "3", "state": "failed"})
    assert started.status_code == 303
    db.expire_all()
    bulk = db.scalars(sa.select(Job).where(Job.type == "ops_bulk")).one()
    assert started.headers["Location"].endswith(f"/ops/jobs/{bulk.id}")
    page = client.get(f"/ops/jobs/{bulk.id}").get_data(as_text=True)
    assert 'id="bulk-progress"' in page and "data-bulk-done" in page


def test_admins_get_no_bulk_confirmation(client, db, staff):
    page_login(client, staff.admin_a)
    assert client.get("/ops/jobs/bulk?action=reprocess&state=failed").status_code == 403
