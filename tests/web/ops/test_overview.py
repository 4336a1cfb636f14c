"""GET /api/ops/overview and the overview page (/ops/): what operators and admins see, without
counting the jobs table; the polling conventions; an SQS that fails; the charts' SVG."""
from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.jobs import pauses
from core.jobs.outbox import new_job
from core.models import Job
from core.models.ops import JobTypePause
from tests import factories
from tests.web.pages.helpers import page_login
from web.common.ops import queues

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch):
    # What a first reading shows, on a machine busy enough to keep moto longer than the default
    # wait; a reading that is not waited for is its own test.
    monkeypatch.setattr(queues, "FIRST_READ_WAIT", 30.0)
    pauses.forget()
    queues.forget()
    yield
    pauses.forget()
    queues.forget()


def _canary(db, owner_id=None, **values) -> Job:
    job = new_job(db, "canary", {"note": "x"}, owner_id=owner_id)
    db.flush()
    if values:
        db.execute(sa.update(Job).where(Job.id == job.id).values(**values))
    return job


def _finished(db, state: str, ago: timedelta, owner_id=None) -> Job:
    now = utcnow()
    return _canary(db, owner_id, state=state, attempts=1, started_at=now - ago - timedelta(seconds=2),
                   finished_at=now - ago, error="boom" if state == "failed" else None)


def test_an_operator_sees_the_platform(client, db, staff):
    for _ in range(3):
        _canary(db, staff.teacher_a.id)
    _finished(db, "succeeded", timedelta(minutes=2), staff.teacher_b.id)
    _finished(db, "failed", timedelta(minutes=2))
    _finished(db, "failed", timedelta(hours=3))
    _canary(db, None, dead_lettered_at=utcnow())
    db.add(JobTypePause(type="canary", reason="SES quota", paused_by=staff.operator.id, paused_at=utcnow()))
    db.commit()
    response = client.get("/api/ops/overview", headers=factories.login(client, staff.operator))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["scope"] == "platform"
    counts = body["jobs"]["counts"]
    assert (counts["queued"], counts["succeeded"], counts["failed"], counts["dead_lettered"]) == (4, 1, 2, 1)
    assert counts["paused"] == 4  # the queued canaries, held by the pause
    assert body["jobs"]["by_type"]["canary"]["paused"] is True
    hour = body["throughput"]["hour"]
    assert len(hour["buckets"]) == 60 and hour["step_seconds"] == 60
    assert sum(hour["overall"]["succeeded"]) == 1 and sum(hour["overall"]["failed"]) == 1
    assert 0.5 in hour["overall"]["failure_rate"]
    assert sum(body["throughput"]["day"]["overall"]["failed"]) == 2 and len(body["throughput"]["day"]["buckets"]) == 24
    assert body["pauses"] == [{"type": "canary", "label": "Canary", "reason": "SES quota",
                               "paused_at": body["pauses"][0]["paused_at"],
                               "paused_by": {"id": staff.operator.id, "name": staff.operator.full_name}}]
    main = body["queues"]["main"]
    assert (main["name"], main["visible"], main["error"]) == ("aula-jobs", 0, None)
    assert main["oldest_age_source"] == "database"  # moto's CloudWatch has no SQS metrics
    assert body["queues"]["dead"]["name"] == "aula-jobs-dead"
    assert body["workers"] == []


def test_the_oldest_message_age_falls_back_to_the_oldest_sent_unclaimed_job(client, db, staff):
    _canary(db, None, published_at=utcnow() - timedelta(seconds=90))
    _canary(db, None)  # not sent: not on the queue
    db.commit()
    main = client.get("/api/ops/overview", headers=factories.login(client, staff.operator)).get_json()["queues"]["main"]
    assert main["oldest_age_source"] == "database" and 89 <= main["oldest_age_seconds"] <= 120


def test_the_database_age_is_looked_up_with_the_depths_and_aged_at_each_answer(client, db, staff):
    _canary(db, None, published_at=utcnow() - timedelta(seconds=90))
    db.commit()
    headers = factories.login(client, staff.operator)
    first = client.get("/api/ops/overview", headers=headers).get_json()["queues"]
    db.execute(sa.delete(Job))  # gone, but the reading (CACHE_SECONDS) still names it
    db.commit()
    time.sleep(1.2)
    later = client.get("/api/ops/overview", headers=headers).get_json()["queues"]
    assert later["read_at"] == first["read_at"]
    assert later["main"]["oldest_age_seconds"] >= first["main"]["oldest_age_seconds"] + 1.0


def test_cloudwatch_is_the_source_when_it_has_a_datapoint(client, db, staff, monkeypatch):
    class CloudWatch:
        def get_metric_statistics(self, **asked):
            assert asked["MetricName"] == "ApproximateAgeOfOldestMessage"
            assert asked["Dimensions"] == [{"Name": "QueueName", "Value": "aula-jobs"}]
            now = utcnow()
            return {"Datapoints": [{"Timestamp": now - timedelta(minutes=2), "Maximum": 10.0},
                                   {"Timestamp": now - timedelta(minutes=1), "Maximum": 42.0}]}

    monkeypatch.setattr(queues, "_cloudwatch_client", lambda services: CloudWatch())
    main = client.get("/api/ops/overview", headers=factories.login(client, staff.operator)).get_json()["queues"]["main"]
    assert (main["oldest_age_seconds"], main["oldest_age_source"]) == (42.0, "cloudwatch")


def test_an_admin_sees_their_institution_only(client, db, staff):
    _canary(db, staff.teacher_a.id)
    _canary(db, staff.teacher_a.id, state="failed", finished_at=utcnow())
    _canary(db, staff.teacher_b.id)
    _canary(db, None)
    db.add(JobTypePause(type="canary", reason="SES quota", paused_by=staff.operator.id, paused_at=utcnow()))
    db.commit()
    body = client.get("/api/ops/overview", headers=factories.login(client, staff.admin_a)).get_json()
    assert body["scope"] == "institution" and body["jobs"]["scope"] == "institution"
    assert body["jobs"]["counts"] == {"queued": 1, "running": 0, "retrying": 0, "succeeded": 0, "failed": 1,
                                      "cancelled": 0}
    assert body["jobs"]["by_type"] is None
    assert (body["throughput"], body["queues"], body["workers"]) == (None, None, None)
    assert body["pauses"][0]["reason"] == "SES quota" and "paused_by" not in body["pauses"][0]
    other = client.get("/api/ops/overview", headers=factories.login(client, staff.admin_b)).get_json()
    assert other["jobs"]["counts"]["queued"] == 1 and other["jobs"]["counts"]["failed"] == 0


@pytest.mark.parametrize("who", ["student_a", "teacher_a"])
def test_students_and_teachers_are_refused(client, staff, who):
    headers = factories.login(client, getattr(staff, who))
    assert client.get("/api/ops/overview", headers=headers).status_code == 403
    page_login(client, getattr(staff, who))
    assert client.get("/ops/").status_code == 403
    assert client.get("/ops/overview/live").status_code == 403


def test_unauthenticated_is_401(client):
    assert client.get("/api/ops/overview").status_code == 401


def test_it_is_polled_with_an_etag_and_retry_after(client, db, staff):
    headers = factories.login(client, staff.operator)
    first = client.get("/api/ops/overview", headers=headers)
    assert first.headers["Retry-After"] and first.headers["ETag"]
    again = client.get("/api/ops/overview", headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Retry-After"]
    _canary(db)
    db.commit()
    changed = client.get("/api/ops/overview", headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]


def test_an_sqs_failure_is_shown_not_raised(client, web_app, db, staff, monkeypatch):
    def broken(**_kwargs):
        raise ConnectionError("SQS is unreachable")

    monkeypatch.setattr(web_app.extensions["aula"].queue.sqs, "get_queue_attributes", broken)
    body = client.get("/api/ops/overview", headers=factories.login(client, staff.operator)).get_json()
    assert "SQS is unreachable" in body["queues"]["main"]["error"] and body["queues"]["main"]["visible"] is None
    assert "SQS is unreachable" in body["queues"]["dead"]["error"]
    queues.forget()
    page_login(client, staff.operator)
    page = client.get("/ops/")
    assert page.status_code == 200
    assert "Could not read the queue: ConnectionError: SQS is unreachable" in page.get_data(as_text=True)


def test_the_queue_figures_are_cached_a_few_seconds(client, web_app, db, staff, monkeypatch):
    calls = []
    real = web_app.extensions["aula"].queue.sqs.get_queue_attributes
    monkeypatch.setattr(web_app.extensions["aula"].queue.sqs, "get_queue_attributes",
                        lambda **kwargs: calls.append(kwargs["QueueUrl"]) or real(**kwargs))
    headers = factories.login(client, staff.operator)
    for _ in range(3):
        assert client.get("/api/ops/overview", headers=headers).status_code == 200
    assert len(calls) == 2  # the main queue and the dead-letter queue, once


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)]


def test_the_page_draws_valid_accessible_svg_charts(client, db, staff):
    _finished(db, "succeeded", timedelta(minutes=1), staff.teacher_a.id)
    _finished(db, "failed", timedelta(minutes=1), staff.teacher_a.id)
    _finished(db, "cancelled", timedelta(hours=2))
    db.commit()
    page_login(client, staff.operator)
    response = client.get("/ops/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    charts = _svgs(html)
    # Overall and per type (one type here), for the hour and the day.
    assert len(charts) == 4
    for svg in charts:
        assert svg.get("role") == "img" and svg.find(f"{SVG}title").text
        assert svg.find(f"{SVG}desc").text.endswith(".")
        assert svg.get("aria-labelledby") == svg.find(f"{SVG}title").get("id")
    hour = next(svg for svg in charts if svg.get("id") == "chart-hour-all")
    assert "2 finished: 1 succeeded, 1 failed, 0 cancelled; failure rate 50.0%" in hour.find(f"{SVG}desc").text
    assert len(hour.findall(f"{SVG}rect")) == 2 and hour.find(f"{SVG}circle") is not None
    assert "cdn" not in html.lower() and "<script src=\"http" not in html
    # The numbers as a table as well.
    assert "<td class=\"num\">50.0%</td>" in html


def test_the_live_part_is_the_same_markup(client, db, staff):
    page_login(client, staff.operator)
    live = client.get("/ops/overview/live")
    assert live.status_code == 200 and "<html" not in live.get_data(as_text=True)
    assert 'data-counts="jobs"' in live.get_data(as_text=True)


def test_an_admin_page_has_no_platform_parts_and_no_pause_form(client, db, staff):
    page_login(client, staff.admin_a)
    html = client.get("/ops/").get_data(as_text=True)
    assert "Operations overview" in html and "Your institution only" in html
    assert "<svg" not in html and "data-queues" not in html and 'id="pause-form"' not in html


def test_a_stale_reading_is_answered_while_sqs_is_read_in_the_background(client, web_app, db, staff, monkeypatch):
    sqs = web_app.extensions["aula"].queue.sqs
    real = sqs.get_queue_attributes
    headers = factories.login(client, staff.operator)
    first = client.get("/api/ops/overview", headers=headers).get_json()["queues"]
    assert first["main"]["error"] is None

    held, calls = threading.Event(), []

    def slow(**kwargs):
        calls.append(kwargs["QueueUrl"])
        held.wait(10)  # an SQS that takes its time: no poll may wait for it
        raise ConnectionError("SQS answered late")

    monkeypatch.setattr(sqs, "get_queue_attributes", slow)
    monkeypatch.setattr(queues, "CACHE_SECONDS", 0.0)
    try:
        for _ in range(3):
            stale = client.get("/api/ops/overview", headers=headers).get_json()["queues"]
            assert stale["read_at"] == first["read_at"] and stale["main"]["error"] is None
        assert len(calls) == 1  # one refresh under way, however many polls found the reading stale
        held.set()
        monkeypatch.setattr(queues, "CACHE_SECONDS", 60.0)
        for _ in range(50):  # the refresh's outcome replaces the reading once it ends
            fresh = client.get("/api/ops/overview", headers=headers).get_json()["queues"]
            if fresh["read_at"] != first["read_at"]:
                break
            time.sleep(0.1)
        assert "SQS answered late" in fresh["main"]["error"]
    finally:
        held.set()
        queues.forget()
    monkeypatch.setattr(sqs, "get_queue_attributes", real)


@pytest.fixture
def slow_sqs(web_app, monkeypatch):
    """SQS that answers GetQueueAttributes only once the test sets the event (at the latest at
    its end), and every reading forgotten afterwards."""
    sqs = web_app.extensions["aula"].queue.sqs
    real = sqs.get_queue_attributes
    held = threading.Event()
    monkeypatch.setattr(sqs, "get_queue_attributes", lambda **kwargs: held.wait(20) and real(**kwargs))
    try:
        yield held
    finally:
        held.set()
        queues.forget()


def test_a_first_reading_that_takes_too_long_is_pending_not_waited_for(client, db, staff, monkeypatch, slow_sqs):
    monkeypatch.setattr(queues, "FIRST_READ_WAIT", 0.2)
    headers = factories.login(client, staff.operator)
    try:
        pending = client.get("/api/ops/overview", headers=headers).get_json()["queues"]
        assert pending["pending"] is True and pending["read_at"] is None
        assert pending["main"]["visible"] is None and pending["main"]["error"] is None
        page_login(client, staff.operator)
        assert "Reading the queue: SQS has not answered yet." in client.get("/ops/overview/live").get_data(as_text=True)
    finally:
        slow_sqs.set()
        queues.forget()
    monkeypatch.setattr(queues, "FIRST_READ_WAIT", 5.0)
    read = client.get("/api/ops/overview", headers=headers).get_json()["queues"]
    assert read["pending"] is False and read["main"]["visible"] is not None


def test_a_slow_first_reading_holds_one_request_not_every_one(client, db, staff, monkeypatch, slow_sqs):
    """The wait is counted from the read's start: once it is over, a request that comes while the
    same read is still under way is told `pending` without waiting again."""
    monkeypatch.setattr(queues, "FIRST_READ_WAIT", 2.0)
    headers = factories.login(client, staff.operator)
    started = time.monotonic()
    assert client.get("/api/ops/overview", headers=headers).get_json()["queues"]["pending"] is True
    assert time.monotonic() - started >= 2.0  # the first request waited for the read
    started = time.monotonic()
    assert client.get("/api/ops/overview", headers=headers).get_json()["queues"]["pending"] is True
    assert time.monotonic() - started < 1.0  # the second did not wait again


def test_a_warmed_process_has_its_first_reading_before_any_operator_asks(client, web_app, db, staff, monkeypatch):
    """gunicorn's post_worker_init warms the web tier's reading, so the first overview after a
    deploy shows figures, not `pending` (with no wait at all allowed here, only a warmed process can)."""
    services = web_app.extensions["aula"]
    queues.forget()
    monkeypatch.setattr(queues, "FIRST_READ_WAIT", 0.0)
    try:
        queues.warm(services)
        for thread in list(queues._refreshing.values()):
            thread.join(10)
        read = client.get("/api/ops/overview", headers=factories.login(client, staff.operator)).get_json()["queues"]
        assert read["pending"] is False and read["main"]["visible"] is not None
    finally:
        queues.forget()
