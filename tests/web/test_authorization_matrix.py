"""Authorization as one table: role x relation x resource -> HTTP status, over the JSON API with
bearer tokens.

The rule: another user's or another institution's resource is 404 (its existence is not
revealed); a resource the caller can see but whose role may not act on it is 403.

Two institutions, A and B. In A: admins `admin_a` and `admin_a2`, teachers `teacher_a` (teaches
class A) and `teacher_a2`, students `student_a` (enrolled in class A) and `student_a2` (not
enrolled). In B: `admin_b`, `teacher_b`, `student_b`. For each role the relations are:

- owner: `<role>_a`: the class's teacher, its enrolled student, the institution's admin; for a
  per-user resource (job, notification, workflow) the user it belongs to;
- not_owner: `<role>_a2`: same institution and role, not the owner (for a per-user resource,
  the same kind of resource, but `<role>_a`'s);
- other_institution: `<role>_b`.

Each test builds the whole world once (both institutions, the class, an activity, and for each
role's owner a job, a finished report job, a notification and a workflow), then makes one call.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from core.auth import issue_token
from core.db import utcnow
from core.jobs.outbox import new_job
from core.models import Enrollment, Notification, SchoolClass, User, Workflow
from tests import factories
from web.common.activities import publish_activity

ROLES = ("admin", "teacher", "student")
RELATIONS = ("owner", "not_owner", "other_institution")
SUFFIX = {"owner": "a", "not_owner": "a2", "other_institution": "b"}


@dataclass
class World:
    users: dict[str, User]
    class_a: SchoolClass
    activity_id: int
    jobs: dict[str, str]  # role -> id of a queued job of <role>_a
    files: dict[str, str]  # role -> id of a succeeded report job with a file, of <role>_a
    notifications: dict[str, int]  # role -> id of an unread notification of <role>_a
    workflows: dict[str, str]  # role -> id of a workflow started by <role>_a


def build_world(db) -> World:
    school_a, school_b = factories.institution(db, "A"), factories.institution(db, "B")
    users: dict[str, User] = {}
    for role in ROLES:
        users[f"{role}_a"] = factories.user(db, school_a, role)
        users[f"{role}_a2"] = factories.user(db, school_a, role)
        users[f"{role}_b"] = factories.user(db, school_b, role)
    class_a, _ = factories.school_class(db, users["teacher_a"], students=2)
    db.add(Enrollment(class_id=class_a.id, student_id=users["student_a"].id))
    # Institution B has a class too, so "another institution" is a real, populated one.
    factories.school_class(db, users["teacher_b"], students=1)
    activity, _fanout = publish_activity(db, class_a, users["teacher_a"], "Lista 1", "Exercícios 1 a 10")

    jobs, files, notifications, workflows = {}, {}, {}, {}
    for role in ROLES:
        owner = users[f"{role}_a"]
        payload = {"kind": "class_roster", "class_id": class_a.id, "format": "csv"}
        jobs[role] = new_job(db, "report", payload, owner_id=owner.id)
        done = new_job(db, "report", {**payload, "format": "xlsx"}, owner_id=owner.id)
        done.state, done.progress, done.finished_at = "succeeded", 100, utcnow()
        done.result = {"file_key": f"reports/{done.id}/roster.xlsx", "filename": "roster.xlsx", "rows": 3}
        files[role] = done
        note = Notification(user_id=owner.id, kind="activity_published", title="Nova atividade",
                            dedupe_key=f"matrix:{role}")
        db.add(note)
        workflow = Workflow(name="seed_institution", owner_id=owner.id, state="running",
                            params={"slug": f"matrix-{role}"}, context={})
        db.add(workflow)
        notifications[role], workflows[role] = note, workflow
    db.commit()
    return World(
        users=users, class_a=class_a, activity_id=activity.id,
        jobs={r: str(j.id) for r, j in jobs.items()}, files={r: str(j.id) for r, j in files.items()},
        notifications={r: n.id for r, n in notifications.items()}, workflows={r: str(w.id) for r, w in workflows.items()},
    )


# Each resource: (method, path or body built from the world and the caller's role).
Request = tuple[str, str, dict[str, Any] | None]
RESOURCES: dict[str, Callable[[World, str], Request]] = {
    "class detail": lambda w, r: ("GET", f"/api/classes/{w.class_a.id}", None),
    "class students": lambda w, r: ("GET", f"/api/classes/{w.class_a.id}/students", None),
    "class activities": lambda w, r: ("GET", f"/api/classes/{w.class_a.id}/activities", None),
    "publish activity": lambda w, r: ("POST", f"/api/classes/{w.class_a.id}/activities",
                                      {"title": "Prova", "description": "", "due_at": "2031-05-01T12:00:00Z"}),
    "activity progress": lambda w, r: ("GET", f"/api/activities/{w.activity_id}", None),
    "report request": lambda w, r: ("POST", "/api/reports",
                                    {"kind": "class_grades", "class_id": w.class_a.id, "format": "xlsx"}),
    "job status": lambda w, r: ("GET", f"/api/jobs/{w.jobs[r]}", None),
    "job download": lambda w, r: ("GET", f"/api/jobs/{w.files[r]}/download", None),
    "job cancel": lambda w, r: ("POST", f"/api/jobs/{w.jobs[r]}/cancel", None),
    "notification read": lambda w, r: ("POST", f"/api/notifications/{w.notifications[r]}/read", None),
    "workflow status": lambda w, r: ("GET", f"/api/workflows/{w.workflows[r]}", None),
    "admin seeds": lambda w, r: ("POST", "/api/admin/seeds",
                                 {"name": "Nova Escola", "slug": "nova-escola", "initial_password": "long-enough-pw",
                                  "students": 2, "lessons_per_class": 0, "activities_per_class": 0}),
    "admin workflows": lambda w, r: ("GET", "/api/admin/workflows", None),
}

# Expected status for (owner, not_owner, other_institution).
MATRIX: dict[str, dict[str, tuple[int, int, int]]] = {
    "class detail":      {"admin": (200, 200, 404), "teacher": (200, 404, 404), "student": (200, 404, 404)},
    # Students see their class, not their classmates' names and emails.
    "class students":    {"admin": (200, 200, 404), "teacher": (200, 404, 404), "student": (403, 404, 404)},
    "class activities":  {"admin": (200, 200, 404), "teacher": (200, 404, 404), "student": (200, 404, 404)},
    # Only the class's teacher publishes; the class is visible to its students and the admins.
    "publish activity":  {"admin": (403, 403, 404), "teacher": (202, 404, 404), "student": (403, 404, 404)},
    # The fan-out's progress is the teacher's; an enrolled student gets the activity and their own
    # standing in it; admins see the activity in their lists, not its delivery.
    "activity progress": {"admin": (403, 403, 404), "teacher": (200, 404, 404), "student": (200, 404, 404)},
    "report request":    {"admin": (403, 403, 404), "teacher": (202, 404, 404), "student": (403, 404, 404)},
    # Jobs are their owner's alone, whatever the role.
    "job status":        {role: (200, 404, 404) for role in ROLES},
    "job download":      {role: (302, 404, 404) for role in ROLES},
    "job cancel":        {role: (200, 404, 404) for role in ROLES},
    "notification read": {role: (200, 404, 404) for role in ROLES},
    # A workflow: its owner and the admins of the owner's institution.
    "workflow status":   {"admin": (200, 200, 404), "teacher": (200, 404, 404), "student": (200, 404, 404)},
    "admin seeds":       {"admin": (202, 202, 202), "teacher": (403, 403, 403), "student": (403, 403, 403)},
    "admin workflows":   {"admin": (200, 200, 200), "teacher": (403, 403, 403), "student": (403, 403, 403)},
}

# Cases where the implementation answers otherwise than the rule, reported to the lead. Each is a
# strict xfail: the suite stays green, and fixing the code turns it into a failure that asks for
# the entry to be removed here.
DISAGREEMENTS: dict[tuple[str, str, str], str] = {}


def _cases():
    for resource, by_role in MATRIX.items():
        for role in ROLES:
            for relation, status in zip(RELATIONS, by_role[role]):
                marks = []
                if (resource, role, relation) in DISAGREEMENTS:
                    marks.append(pytest.mark.xfail(strict=True, reason=DISAGREEMENTS[resource, role, relation]))
                yield pytest.param(resource, role, relation, status, marks=marks,
                                   id=f"{resource}|{role}|{relation}|{status}".replace(" ", "_"))


def test_the_matrix_covers_every_resource_role_and_relation():
    assert set(MATRIX) == set(RESOURCES)
    for resource, by_role in MATRIX.items():
        assert set(by_role) == set(ROLES), resource
        assert all(len(statuses) == len(RELATIONS) for statuses in by_role.values()), resource
    assert set(DISAGREEMENTS) <= {(r, role, rel) for r in MATRIX for role in ROLES for rel in RELATIONS}


@pytest.fixture
def world(db) -> World:
    return build_world(db)


def _token(web_app, db, person: User) -> dict[str, str]:
    # Straight from core.auth (no password hashing): the login itself is tested in test_auth_api.py.
    token = issue_token(db, db.merge(person), web_app.extensions["aula"].settings.token_ttl_seconds)
    db.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("resource", "role", "relation", "expected"), list(_cases()))
def test_authorization(client, web_app, db, world, resource, role, relation, expected):
    caller = world.users[f"{role}_{SUFFIX[relation]}"]
    method, path, body = RESOURCES[resource](world, role)
    response = client.open(path, method=method, json=body, headers=_token(web_app, db, caller))
    assert response.status_code == expected, (resource, role, relation, response.get_json(silent=True))
    if expected >= 400:
        error = response.get_json()
        assert isinstance(error.get("error"), str) and error["error"], error
        # A 404 never says what the resource was (no title, no owner's email).
        text = response.get_data(as_text=True)
        assert "Lista 1" not in text and world.users["teacher_a"].email not in text


# ---- the lists: nobody sees through a list what the matrix hides one by one ----

def _ids(client, headers, path: str) -> set:
    response = client.get(path + "?size=100", headers=headers)
    assert response.status_code == 200, (path, response.get_json())
    return {item["id"] for item in response.get_json()["items"]}


@pytest.mark.parametrize("who", ["admin_a", "admin_b", "teacher_a", "teacher_a2", "teacher_b",
                                 "student_a", "student_a2", "student_b"])
def test_lists_show_exactly_what_the_caller_may_see(client, web_app, db, world, who):
    headers = _token(web_app, db, world.users[who])
    person = db.merge(world.users[who])
    role = person.role
    classes = _ids(client, headers, "/api/classes")
    if who in ("admin_a", "teacher_a", "student_a"):
        assert world.class_a.id in classes
    else:
        assert world.class_a.id not in classes
    assert all(db.get(SchoolClass, c).institution_id == person.institution_id for c in classes)

    owned = who == f"{role}_a"
    jobs = _ids(client, headers, "/api/jobs")
    assert ({world.jobs[role], world.files[role]} <= jobs) == owned
    every_seeded_job = {j for r in ROLES for j in (world.jobs[r], world.files[r])}
    assert jobs & every_seeded_job == ({world.jobs[role], world.files[role]} if owned else set())

    notes = _ids(client, headers, "/api/notifications")
    assert notes & set(world.notifications.values()) == ({world.notifications[role]} if owned else set())

    if role == "admin":
        workflows = _ids(client, headers, "/api/admin/workflows")
        seeded = set(world.workflows.values())
        assert workflows & seeded == (seeded if person.institution_id == world.class_a.institution_id else set())
