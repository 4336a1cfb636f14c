"""Coalescing and quotas: an identical request in progress returns that job (200, not a new
202); beyond the per-user cap the API answers 429 with Retry-After and changes nothing."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.models import Job
from tests import factories

REPORT = {"kind": "class_roster", "format": "csv"}


@pytest.fixture
def teacher(db):
    school = factories.institution(db)
    teacher = factories.user(db, school, "teacher")
    classes = [factories.school_class(db, teacher, students=1)[0] for _ in range(7)]
    db.commit()
    return teacher, classes


def _ask(client, headers, class_id):
    return client.post("/api/reports", json={**REPORT, "class_id": class_id}, headers=headers)


def test_an_identical_request_in_progress_returns_the_existing_job(client, db, teacher):
    person, classes = teacher
    headers = factories.login(client, person)
    first = _ask(client, headers, classes[0].id)
    second = _ask(client, headers, classes[0].id)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.get_json()["job"]["id"] == first.get_json()["job"]["id"]
    assert second.headers["Location"] == first.headers["Location"]
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 1


def test_once_finished_the_same_request_makes_a_new_job(client, db, teacher):
    person, classes = teacher
    headers = factories.login(client, person)
    first = _ask(client, headers, classes[0].id).get_json()["job"]["id"]
    db.execute(sa.update(Job).values(state="succeeded"))
    db.commit()
    again = _ask(client, headers, classes[0].id)
    assert again.status_code == 202 and again.get_json()["job"]["id"] != first


def test_identical_requests_racing_each_other_make_one_job(web_app, db, teacher):
    person, classes = teacher
    headers = factories.login(web_app.test_client(), person)
    barrier = threading.Barrier(4)
    answers: list[tuple[int, str]] = []

    def ask() -> None:
        client = web_app.test_client()
        barrier.wait(timeout=10)
        response = _ask(client, headers, classes[0].id)
        answers.append((response.status_code, response.get_json()["job"]["id"]))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(code for code, _ in answers) == [200, 200, 200, 202]
    assert len({job_id for _, job_id in answers}) == 1
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 1


def test_beyond_the_cap_the_answer_is_429_with_retry_after_and_nothing_is_created(client, db, teacher):
    person, classes = teacher
    headers = factories.login(client, person)
    for group in classes[:5]:  # the default cap is 5 requests in flight
        assert _ask(client, headers, group.id).status_code == 202
    refused = _ask(client, headers, classes[5].id)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "5 requests in progress" in refused.get_json()["error"]
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 5
    # An identical request is still answered with its job, even at the cap.
    assert _ask(client, headers, classes[0].id).status_code == 200
    # Finishing one frees a place.
    db.execute(sa.update(Job).where(Job.payload["class_id"].as_integer() == classes[0].id).values(state="failed"))
    db.commit()
    assert _ask(client, headers, classes[5].id).status_code == 202


def test_the_cap_is_per_user(client, db, teacher):
    person, classes = teacher
    headers = factories.login(client, person)
    for group in classes[:5]:
        _ask(client, headers, group.id)
    colleague = factories.user(db, person.institution, "teacher")
    own_class, _ = factories.school_class(db, colleague, students=1)
    db.commit()
    assert _ask(client, factories.login(client, colleague), own_class.id).status_code == 202


# -- every endpoint that creates work goes through the cap -------------------------------------

def _fill_the_cap(db, person, classes) -> None:
    """Five report jobs in flight for `person` (the default cap)."""
    from core.jobs.outbox import new_job

    for group in classes[:5]:
        new_job(db, "report", {**REPORT, "class_id": group.id}, owner_id=person.id)
    db.commit()


def _page_post(client, path: str, data: dict):
    from tests.web.pages.helpers import csrf_token

    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/jobs")})


CREATING = {
    "api report": lambda c, h, cls: c.post("/api/reports", json={**REPORT, "class_id": cls.id}, headers=h),
    "api publish": lambda c, h, cls: c.post(f"/api/classes/{cls.id}/activities", json={"title": "Lista"}, headers=h),
    "api seed": lambda c, h, cls: c.post("/api/admin/seeds", headers=h, json={
        "name": "Nova", "slug": "nova-cap", "students": 5, "initial_password": "a-long-secret-1"}),
    "page report": lambda c, h, cls: _page_post(c, f"/teacher/classes/{cls.id}/reports", REPORT),
    "page publish": lambda c, h, cls: _page_post(c, f"/teacher/classes/{cls.id}/activities/new",
                                                 {"title": "Lista", "description": "", "due_at": "", "confirmed": "1"}),
    "page seed": lambda c, h, cls: _page_post(c, "/admin/seeds", {
        "name": "Nova", "slug": "nova-cap", "students": "5", "initial_password": "a-long-secret-1"}),
}


@pytest.mark.parametrize("endpoint", sorted(CREATING))
def test_every_endpoint_that_creates_work_answers_429_at_the_cap(client, db, teacher, endpoint):
    from core.models import Activity, Workflow
    from tests.web.pages.helpers import page_login

    person, classes = teacher
    if "seed" in endpoint:
        person = factories.user(db, person.institution, "admin")
        db.commit()
    _fill_the_cap(db, person, classes)
    headers = factories.login(client, person)
    if endpoint.startswith("page"):
        page_login(client, person)
    before = (db.scalar(sa.select(sa.func.count(Job.id))), db.scalar(sa.select(sa.func.count(Activity.id))),
              db.scalar(sa.select(sa.func.count(Workflow.id))))
    refused = CREATING[endpoint](client, headers, classes[6])
    assert refused.status_code == 429, refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    db.rollback()
    after = (db.scalar(sa.select(sa.func.count(Job.id))), db.scalar(sa.select(sa.func.count(Activity.id))),
             db.scalar(sa.select(sa.func.count(Workflow.id))))
    assert after == before, "a refused request creates nothing"


def test_a_publish_stays_in_flight_until_its_last_email_is_out(client, db, teacher, worker_client, sqs, aws):
    """The fan-out job ends at once; its emails are what costs. The batch counts until it completes."""
    from core.jobs.outbox import envelope_for
    from core.models import Batch
    from tests.sqsd import deliver

    person, classes = teacher
    headers = factories.login(client, person)
    for group in classes[:5]:
        assert client.post(f"/api/classes/{group.id}/activities", json={"title": "L"}, headers=headers).status_code == 202
    # Run only the five fan-out jobs: their batches of emails are now open, and still count.
    for job in db.scalars(sa.select(Job).where(Job.type == "activity_fanout")).all():
        assert deliver(worker_client, envelope_for(job).to_json()).status_code == 200
    db.expire_all()
    assert set(db.scalars(sa.select(Job.state).where(Job.type == "activity_fanout"))) == {"succeeded"}
    assert db.scalar(sa.select(sa.func.count(Batch.id)).where(Batch.completed_at.is_(None))) == 5
    db.rollback()
    refused = client.post(f"/api/classes/{classes[5].id}/activities", json={"title": "L"}, headers=headers)
    assert refused.status_code == 429


# -- the cap holds exactly under parallel requests ---------------------------------------------

def _parallel(web_app, calls) -> list[int]:
    barrier = threading.Barrier(len(calls))
    codes: list[int] = []
    lock = threading.Lock()

    def run(call) -> None:
        client = web_app.test_client()
        barrier.wait(timeout=30)
        code = call(client).status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return sorted(codes)


def test_parallel_distinct_reports_cannot_race_past_the_cap(web_app, db, teacher):
    person, classes = teacher
    extra = [factories.school_class(db, person, students=1)[0] for _ in range(1)]
    db.commit()
    headers = factories.login(web_app.test_client(), person)
    calls = [lambda c, g=g: _ask(c, headers, g.id) for g in (classes + extra)[:8]]
    assert _parallel(web_app, calls) == [202] * 5 + [429] * 3
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 5


def test_parallel_seeds_cannot_race_past_the_cap(web_app, db, teacher):
    from core.models import Workflow

    person, _classes = teacher
    admin = factories.user(db, person.institution, "admin")
    db.commit()
    headers = factories.login(web_app.test_client(), admin)
    calls = [lambda c, n=n: c.post("/api/admin/seeds", headers=headers, json={
        "name": f"Nova {n}", "slug": f"nova-{n}", "students": 5, "initial_password": "a-long-secret-1"})
        for n in range(10)]
    assert _parallel(web_app, calls) == [202] * 5 + [429] * 5
    assert db.scalar(sa.select(sa.func.count(Workflow.id))) == 5


def test_parallel_publishes_cannot_race_past_the_cap(web_app, db, teacher):
    from core.models import Activity

    person, classes = teacher
    headers = factories.login(web_app.test_client(), person)
    calls = [lambda c, g=g: c.post(f"/api/classes/{g.id}/activities", json={"title": "Lista"}, headers=headers)
             for g in classes + classes[:1]]
    assert _parallel(web_app, calls) == [202] * 5 + [429] * 3
    assert db.scalar(sa.select(sa.func.count(Job.id))) == 5
    assert db.scalar(sa.select(sa.func.count(Activity.id))) == 5, "a refused publish leaves no activity"


# -- what counts, and what it costs ------------------------------------------------------------

def test_only_requests_in_flight_count_not_their_children_steps_or_finished_work(db, teacher):
    from core.db import utcnow
    from core.jobs.outbox import new_job
    from core.models import Batch, Workflow
    from web.common.submit import in_flight_below

    person, classes = teacher
    payload = {**REPORT, "class_id": classes[0].id}
    for state in ("succeeded", "failed", "cancelled"):
        new_job(db, "report", payload, owner_id=person.id).state = state
    new_job(db, "report", payload, owner_id=person.id).state = "running"  # counts
    sending = Batch(owner_id=person.id, description="sending", total=2)  # counts until completed
    sent = Batch(owner_id=person.id, description="sent", total=1, completed_at=utcnow())
    running, done = Workflow(name="seed_institution", owner_id=person.id), Workflow(
        name="seed_institution", owner_id=person.id, state="compensated")
    db.add_all([sending, sent, running, done])  # the running workflow counts
    db.flush()
    for batch in (sending, sent):  # fan-out children are counted through their batch
        new_job(db, "report", payload, owner_id=person.id, batch_id=batch.id)
    for flow in (running, done):  # workflow steps through their workflow
        new_job(db, "report", payload, owner_id=person.id, workflow_id=flow.id)
    db.commit()
    below = [db.scalar(sa.select(in_flight_below(person.id, limit))) for limit in (2, 3, 4)]
    assert below == [False, False, True]


def test_publishing_is_two_statements_and_takes_no_row_lock(web_app, db, teacher):
    """The activity (inserted only where the caller teaches; on PostgreSQL it also takes the
    quota's advisory lock) and its job (inserted only under the cap): no SELECT of the class,
    no separate counts, no row locked FOR UPDATE."""
    from web.common.activities import publish_to_class

    person, classes = teacher
    engine = web_app.extensions["aula"].db.engine
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        activity, job = publish_to_class(db, classes[0].id, person, "Lista", max_in_flight=5)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    inserts = [s for s in statements if "INSERT INTO" in s]
    assert len(statements) == 2 and len(inserts) == 2, statements
    assert "INSERT INTO activities" in inserts[0] and "INSERT INTO jobs" in inserts[1]
    assert not any("FOR UPDATE" in s or "FOR NO KEY UPDATE" in s for s in statements)
    db.commit()
    # The rows are the returned objects: changing one is an UPDATE like any loaded row's.
    job.state = "cancelled"
    db.commit()
    db.expire_all()
    assert db.get(Job, job.id).state == "cancelled" and activity.id is not None
