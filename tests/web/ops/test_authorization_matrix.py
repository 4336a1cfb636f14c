"""The operations console's authorization matrix: every /ops/ page and /api/ops/ endpoint (the
app's real routes, read from app.url_map) x caller -> HTTP status, as docs/console.md says.

Callers: an operator; an admin of institution A, whose teacher owns every target; an admin of
institution B; a teacher and a student of A; nobody (no login). The API is called with bearer
tokens, the pages with a session cookie and the form's CSRF token. The expectations:

- operators: everything;
- an admin: their institution's jobs, batches and workflows, the single-job actions on them;
  another institution's are a 404 (their existence is not revealed); bulk, pause and resume,
  redrive, purge and "run now" are operators' only: 403;
- teachers and students: 403; no login: 401 from the API, a redirect to the login from a page;
- a refused call changes nothing (jobs, audit entries, pauses, the dead-letter queue); no admin
  reads an email (the teacher's, the operator's) in any answer, and B's admin none of A's
  targets, even through the lists' institution and owner filters;
- a state-changing call by cookie without the CSRF token is a 400 and changes nothing.

Each caller gets targets of its own (built just before its call), so one caller's action never
decides the next one's answer.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from core.auth import issue_token
from core.db import utcnow
from core.jobs.outbox import envelope_for
from core.models import Batch, Job, User, Workflow
from core.models.ops import AuditEntry, JobAttempt, JobTypePause
from tests.web.pages.helpers import csrf_from, csrf_token, page_login
from web.common.ops import deadletters

CALLERS = ("operator", "admin", "admin_other", "teacher", "student", "anonymous")
REPORT = {"kind": "class_roster", "class_id": 7, "format": "csv"}
TASK = "retention"


@dataclass
class Targets:
    """What one caller's call is about, all of institution A (its teacher's)."""
    failed: Job  # two failed attempts: reprocessed, shown, its logs
    queued: Job  # cancelled
    dead: Job  # its message is in the dead-letter queue: redriven
    batch: Batch
    workflow: Workflow
    dead_letters: int  # messages in the dead-letter queue (visible and in flight): purged
    failed_reports: int  # the failed report jobs a bulk reprocess confirms
    scope: str  # the lists' filters for A's institution and teacher: they only narrow inside the caller's scope
    actor: str  # the audit list's filter for the operator's entries, never an admin's to read


def _job(db, owner: User, state: str, **columns) -> Job:
    now = utcnow()
    job = Job(id=uuid.uuid4(), type="report", payload=REPORT, owner_id=owner.id, state=state,
              published_at=now, created_at=now - timedelta(minutes=5), **columns)
    db.add(job)
    db.flush()
    return job


def build_targets(db, sqs, aws, staff) -> Targets:
    owner, now = staff.teacher_a, utcnow()
    failed = _job(db, owner, "failed", error="SES throttled", attempts=2, started_at=now - timedelta(minutes=4),
                  finished_at=now - timedelta(minutes=3))
    for n in (1, 2):
        db.add(JobAttempt(job_id=failed.id, attempt=n, started_at=now - timedelta(minutes=5 - n),
                          finished_at=now - timedelta(minutes=4 - n), outcome="failed", error="SES throttled",
                          worker="i-0abc/123"))
    queued = _job(db, owner, "queued")
    dead = _job(db, owner, "retrying", error="worker killed", dead_lettered_at=now)
    batch = Batch(id=uuid.uuid4(), owner_id=owner.id, description="matrix batch", total=1)
    db.add(batch)
    db.flush()
    _job(db, owner, "queued", batch_id=batch.id)
    workflow = Workflow(name="seed_institution", owner_id=owner.id, state="running", params={"slug": "m"},
                        context={})
    db.add(workflow)
    # An action by A's admin on A's job: in A's audit view, in nobody else's but the operators'.
    db.add(AuditEntry(actor_id=staff.admin_a.id, action="job.cancel", target=f"job:{failed.id}", count=1,
                      detail={}))
    db.add(AuditEntry(actor_id=staff.operator.id, action="type.pause", target="type:canary", count=0,
                      detail={"reason": "matrix"}))
    # One paused type, so resuming has something to resume; pausing asks for another one.
    db.execute(sa.delete(JobTypePause))
    db.add(JobTypePause(type="canary", reason="matrix", paused_by=staff.operator.id))
    db.commit()
    sqs.send_message(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], MessageBody=envelope_for(dead).to_json())
    attrs = sqs.get_queue_attributes(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    deadletters._cache.clear()  # the console's 10 s look must see this caller's queue
    failed_reports = db.scalar(sa.select(sa.func.count()).select_from(Job).where(
        Job.state == "failed", Job.type == "report"))
    return Targets(failed, queued, dead, batch, workflow,
                   int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]),
                   failed_reports, f"institution={staff.school_a.id}&owner={owner.id}",
                   f"actor={staff.operator.id}")


def E(operator: int, admin: int, admin_other: int, teacher: int, student: int, anonymous: int) -> dict[str, int]:
    return dict(zip(CALLERS, (operator, admin, admin_other, teacher, student, anonymous)))


# Expected answers. Read: everyone in the console. Scoped: one of A's resources. Operator: an
# operators-only action. Single: an action on one of A's jobs.
API_READ, API_SCOPED = E(200, 200, 200, 403, 403, 401), E(200, 200, 404, 403, 403, 401)
PAGE_READ, PAGE_SCOPED = E(200, 200, 200, 403, 403, 302), E(200, 200, 404, 403, 403, 302)
PAGE_OPERATOR, PAGE_SINGLE = E(303, 403, 403, 403, 403, 302), E(303, 303, 404, 403, 403, 302)

Call = Callable[[Targets], tuple[str, dict[str, Any] | None]]
# (method, rule as in app.url_map) -> (the call: path and JSON or form body, the expected answers)
API: dict[tuple[str, str], tuple[Call, dict[str, int]]] = {
    ("GET", "/api/ops/overview"): (lambda t: ("/api/ops/overview", None), API_READ),
    ("GET", "/api/ops/pauses"): (lambda t: ("/api/ops/pauses", None), API_READ),
    ("PUT", "/api/ops/pauses/<job_type>"): (lambda t: ("/api/ops/pauses/report", {"reason": "SES is down"}),
                                            E(201, 403, 403, 403, 403, 401)),
    ("DELETE", "/api/ops/pauses/<job_type>"): (lambda t: ("/api/ops/pauses/canary", None),
                                               E(200, 403, 403, 403, 403, 401)),
    ("GET", "/api/ops/jobs"): (lambda t: (f"/api/ops/jobs?{t.scope}", None), API_READ),
    ("GET", "/api/ops/jobs/<job_id>"): (lambda t: (f"/api/ops/jobs/{t.failed.id}", None), API_SCOPED),
    ("GET", "/api/ops/jobs/<job_id>/logs"): (lambda t: (f"/api/ops/jobs/{t.failed.id}/logs", None), API_SCOPED),
    ("POST", "/api/ops/jobs/<job_id>/reprocess"): (lambda t: (f"/api/ops/jobs/{t.failed.id}/reprocess", None),
                                                   E(202, 202, 404, 403, 403, 401)),
    ("POST", "/api/ops/jobs/<job_id>/cancel"): (lambda t: (f"/api/ops/jobs/{t.queued.id}/cancel", None),
                                                E(200, 200, 404, 403, 403, 401)),
    ("GET", "/api/ops/bulk/count"): (lambda t: ("/api/ops/bulk/count?action=reprocess&state=failed&type=report",
                                                None), E(200, 403, 403, 403, 403, 401)),
    ("POST", "/api/ops/bulk"): (lambda t: ("/api/ops/bulk", {
        "action": "reprocess", "filter": {"state": "failed", "type": "report"}, "expected_count": t.failed_reports}),
        E(202, 403, 403, 403, 403, 401)),
    ("GET", "/api/ops/dead-letters"): (lambda t: ("/api/ops/dead-letters", None), API_READ),
    ("POST", "/api/ops/dead-letters/redrive"): (lambda t: ("/api/ops/dead-letters/redrive",
                                                           {"job_ids": [str(t.dead.id)]}),
                                                E(200, 403, 403, 403, 403, 401)),
    ("POST", "/api/ops/dead-letters/purge"): (lambda t: ("/api/ops/dead-letters/purge",
                                                         {"expected_count": t.dead_letters}),
                                              E(200, 403, 403, 403, 403, 401)),
    ("GET", "/api/ops/periodic"): (lambda t: ("/api/ops/periodic", None), API_READ),
    ("GET", "/api/ops/periodic/<task>"): (lambda t: (f"/api/ops/periodic/{TASK}", None), API_READ),
    ("POST", "/api/ops/periodic/<task>/run"): (lambda t: (f"/api/ops/periodic/{TASK}/run", None),
                                               E(202, 403, 403, 403, 403, 401)),
    ("GET", "/api/ops/batches"): (lambda t: (f"/api/ops/batches?{t.scope}", None), API_READ),
    ("GET", "/api/ops/batches/<batch_id>"): (lambda t: (f"/api/ops/batches/{t.batch.id}", None), API_SCOPED),
    ("GET", "/api/ops/workflows"): (lambda t: (f"/api/ops/workflows?{t.scope}", None), API_READ),
    ("GET", "/api/ops/workflows/<workflow_id>"): (lambda t: (f"/api/ops/workflows/{t.workflow.id}", None),
                                                  API_SCOPED),
    ("GET", "/api/ops/audit"): (lambda t: (f"/api/ops/audit?{t.actor}", None), API_READ),
}

PAGES: dict[tuple[str, str], tuple[Call, dict[str, int]]] = {
    ("GET", "/ops/"): (lambda t: ("/ops/", None), PAGE_READ),
    ("GET", "/ops/overview/live"): (lambda t: ("/ops/overview/live", None), PAGE_READ),
    ("POST", "/ops/pauses"): (lambda t: ("/ops/pauses", {"type": "report", "reason": "SES is down"}), PAGE_OPERATOR),
    ("POST", "/ops/pauses/<job_type>/resume"): (lambda t: ("/ops/pauses/canary/resume", {}), PAGE_OPERATOR),
    ("GET", "/ops/jobs"): (lambda t: (f"/ops/jobs?{t.scope}", None), PAGE_READ),
    ("GET", "/ops/jobs/<job_id>"): (lambda t: (f"/ops/jobs/{t.failed.id}", None), PAGE_SCOPED),
    ("POST", "/ops/jobs/<job_id>/reprocess"): (lambda t: (f"/ops/jobs/{t.failed.id}/reprocess", {}), PAGE_SINGLE),
    ("POST", "/ops/jobs/<job_id>/cancel"): (lambda t: (f"/ops/jobs/{t.queued.id}/cancel", {}), PAGE_SINGLE),
    ("GET", "/ops/jobs/bulk"): (lambda t: ("/ops/jobs/bulk?action=reprocess&state=failed&type=report", None),
                                E(200, 403, 403, 403, 403, 302)),
    ("POST", "/ops/jobs/bulk"): (lambda t: ("/ops/jobs/bulk", {
        "action": "reprocess", "state": "failed", "type": "report", "expected_count": str(t.failed_reports)}),
        PAGE_OPERATOR),
    ("GET", "/ops/dead-letters"): (lambda t: ("/ops/dead-letters", None), PAGE_READ),
    ("GET", "/ops/dead-letters/live"): (lambda t: ("/ops/dead-letters/live", None), PAGE_READ),
    ("POST", "/ops/dead-letters/redrive"): (lambda t: ("/ops/dead-letters/redrive", {"job_id": str(t.dead.id)}),
                                            PAGE_OPERATOR),
    ("POST", "/ops/dead-letters/purge"): (lambda t: ("/ops/dead-letters/purge", {
        "expected_count": str(t.dead_letters), "confirm": "yes"}), PAGE_OPERATOR),
    ("GET", "/ops/periodic"): (lambda t: ("/ops/periodic", None), PAGE_READ),
    ("POST", "/ops/periodic/<task>/run"): (lambda t: (f"/ops/periodic/{TASK}/run", {}), PAGE_OPERATOR),
    ("GET", "/ops/batches"): (lambda t: (f"/ops/batches?{t.scope}", None), PAGE_READ),
    ("GET", "/ops/batches/<batch_id>"): (lambda t: (f"/ops/batches/{t.batch.id}", None), PAGE_SCOPED),
    ("GET", "/ops/workflows"): (lambda t: (f"/ops/workflows?{t.scope}", None), PAGE_READ),
    ("GET", "/ops/workflows/<workflow_id>"): (lambda t: (f"/ops/workflows/{t.workflow.id}", None), PAGE_SCOPED),
    ("GET", "/ops/audit"): (lambda t: (f"/ops/audit?{t.actor}", None), PAGE_READ),
}

# Cases where the console answers otherwise than docs/console.md, reported to the lead: a strict
# xfail each, so fixing the code asks for the entry to be removed.
DISAGREEMENTS: dict[tuple[str, str], str] = {}


def _console_routes(app) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            if rule.rule.startswith(("/ops/", "/api/ops/")) for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_console_route_is_in_the_matrix(web_app):
    """A route added under /ops/ or /api/ops/ without an entry here fails this test."""
    routes = _console_routes(web_app)
    assert routes == set(API) | set(PAGES), {"without an entry": sorted(routes - set(API) - set(PAGES)),
                                             "no longer routes": sorted(set(API) | set(PAGES) - routes)}
    assert all(set(expected) == set(CALLERS) for _call, expected in (*API.values(), *PAGES.values()))
    assert set(DISAGREEMENTS) <= set(API) | set(PAGES)


def _callers(staff) -> dict[str, User | None]:
    return {"operator": staff.operator, "admin": staff.admin_a, "admin_other": staff.admin_b,
            "teacher": staff.teacher_a, "student": staff.student_a, "anonymous": None}


def fingerprint(db, sqs, aws) -> tuple:
    """What a refused call must leave as it was."""
    db.expire_all()
    jobs = db.execute(sa.select(Job.id, Job.state).order_by(Job.id)).all()
    audit = db.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    pauses = db.execute(sa.select(JobTypePause.type, JobTypePause.reason).order_by(JobTypePause.type)).all()
    db.rollback()
    dead = sqs.get_queue_attributes(QueueUrl=aws["SQS_DEAD_LETTER_QUEUE_URL"], AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return jobs, audit, pauses, dead


def _hidden(targets: Targets, staff, caller: str, path: str) -> list[str]:
    """What `caller` must never read (but what it asked for in the path): for any admin, emails
    (the operators' only); for B's admin, A's targets too."""
    hidden = [staff.teacher_a.email, staff.operator.email] if caller in ("admin", "admin_other") else []
    if caller == "admin_other":
        hidden += [str(x.id) for x in (targets.failed, targets.queued, targets.dead, targets.batch, targets.workflow)]
    return [x for x in hidden if x not in path]


def _check(answers: dict[str, Any], expected: dict[str, int]) -> None:
    wrong = {caller: (answer, expected[caller]) for caller, answer in answers.items()
             if answer is not True and answer != expected[caller]}
    assert not wrong, f"caller: (answer, expected) {wrong}"


def _marks(key):
    reason = DISAGREEMENTS.get(key)
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def _params(table):
    return [pytest.param(key, id=f"{key[0]} {key[1]}", marks=_marks(key)) for key in table]


@pytest.mark.parametrize("key", _params(API))
def test_api(web_app, client, db, sqs, aws, staff, key):
    call, expected = API[key]
    method = key[0]
    settings = web_app.extensions["aula"].settings
    answers: dict[str, Any] = {}
    for caller, person in _callers(staff).items():
        targets = build_targets(db, sqs, aws, staff)
        headers = {}
        if person is not None:
            headers["Authorization"] = "Bearer " + issue_token(db, db.merge(person), settings.token_ttl_seconds)
            db.commit()
        path, body = call(targets)
        before = fingerprint(db, sqs, aws)
        response = client.open(path, method=method, json=body, headers=headers)
        answers[caller] = response.status_code
        text = response.get_data(as_text=True)
        if response.status_code >= 400:
            error = response.get_json(silent=True) or {}
            assert isinstance(error.get("error"), str) and error["error"], (caller, text[:300])
            if method != "GET":
                assert fingerprint(db, sqs, aws) == before, (caller, "a refused call changed something")
        leaked = [x for x in _hidden(targets, staff, caller, path) if x in text]
        assert not leaked, f"{caller} reads {leaked} in {path}"
    _check(answers, expected)


def _page_clients(web_app, staff) -> dict[str, Any]:
    clients = {}
    for caller, person in _callers(staff).items():
        clients[caller] = web_app.test_client()
        if person is not None:
            page_login(clients[caller], person)
    return clients


def _form_token(client, logged_in: bool) -> str:
    if not logged_in:
        return csrf_token(client, "/login")
    return csrf_from(client.get("/", follow_redirects=True).get_data(as_text=True))


@pytest.mark.parametrize("key", _params(PAGES))
def test_pages(web_app, db, sqs, aws, staff, key):
    call, expected = PAGES[key]
    method = key[0]
    clients = _page_clients(web_app, staff)
    answers: dict[str, Any] = {}
    for caller, person in _callers(staff).items():
        targets = build_targets(db, sqs, aws, staff)
        path, form = call(targets)
        client = clients[caller]
        if method == "POST":
            form = {**form, "csrf_token": _form_token(client, person is not None)}
        before = fingerprint(db, sqs, aws)
        response = client.open(path, method=method, data=form)
        answers[caller] = response.status_code
        text = response.get_data(as_text=True)
        if caller == "anonymous" and response.status_code == 302:
            location = response.headers["Location"]
            assert location.startswith("/login?next="), location
        refused = response.status_code >= 300 and not (caller != "anonymous" and response.status_code == 303)
        if refused and method != "GET":
            assert fingerprint(db, sqs, aws) == before, (caller, "a refused form changed something")
        leaked = [x for x in _hidden(targets, staff, caller, path) if x in text]
        assert not leaked, f"{caller} reads {leaked} in {path}"
    _check(answers, expected)


CHANGES = [key for key in (*API, *PAGES) if key[0] != "GET"]


@pytest.mark.parametrize("key", [pytest.param(k, id=f"{k[0]} {k[1]}") for k in CHANGES])
def test_a_change_by_cookie_without_the_csrf_token_is_refused(web_app, db, sqs, aws, staff, key):
    """The operator, logged in by the pages' cookie, posts without the token: 400, nothing done."""
    call, _expected = API.get(key) or PAGES[key]
    client = web_app.test_client()
    page_login(client, staff.operator)
    path, body = call(build_targets(db, sqs, aws, staff))
    before = fingerprint(db, sqs, aws)
    if key in API:
        response = client.open(path, method=key[0], json=body)
        assert response.status_code == 400 and "CSRF" in response.get_json()["error"], response.get_data(as_text=True)
    else:
        response = client.open(path, method=key[0], data=body)
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert fingerprint(db, sqs, aws) == before
