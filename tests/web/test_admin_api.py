"""An admin seeds a new institution through the API and follows the workflow."""
from __future__ import annotations

import sqlalchemy as sa

from core.models import Institution, User
from tests import factories
from tests.sqsd import pump

SEED = {"name": "Escola Nova", "slug": "nova", "students": 40, "initial_password": "a-long-secret-1"}


def _admin(db):
    person = factories.user(db, factories.institution(db), "admin")
    db.commit()
    return person


def test_an_admin_seeds_an_institution_whose_accounts_use_the_initial_password(
    client, worker_client, db, sqs, aws
):
    admin = _admin(db)
    headers = factories.login(client, admin)
    started = client.post("/api/admin/seeds", json=SEED, headers=headers)
    assert started.status_code == 202, started.get_json()
    body = started.get_json()["workflow"]
    assert started.headers["Location"] == f"/api/workflows/{body['id']}"
    assert "password_hash" not in body["params"] and "initial_password" not in body["params"]
    pump(sqs, aws["SQS_QUEUE_URL"], worker_client, max_rounds=30)

    done = client.get(started.headers["Location"], headers=headers).get_json()["workflow"]
    assert done["state"] == "succeeded" and [s["state"] for s in done["steps"]] == ["succeeded"] * 6
    school = db.scalar(sa.select(Institution).where(Institution.slug == "nova"))
    assert db.scalar(sa.select(sa.func.count(User.id)).where(User.institution_id == school.id,
                                                             User.role == "student")) == 40
    accounts = db.scalars(sa.select(User).where(User.institution_id == school.id)).all()
    demo_passwords = {"admin": "aula-admin", "teacher": "aula-teacher", "student": "aula-student"}
    assert {a.role for a in accounts} == set(demo_passwords)
    # Every account the seed created, admin included: the initial password works, the public demo one does not.
    for account in [a for a in accounts if a.role != "student"] + [a for a in accounts if a.role == "student"][:2]:
        own = client.post("/api/login", json={"email": account.email, "password": SEED["initial_password"]})
        assert own.status_code == 200, account.email
        demo = client.post("/api/login", json={"email": account.email, "password": demo_passwords[account.role]})
        assert demo.status_code == 401, f"{account.email} accepts the public demo password"
    hashes = set(db.scalars(sa.select(User.password_hash).where(User.institution_id == school.id)))
    assert len(hashes) == 1, "every seeded account has the initial password's hash"

def test_bad_seed_requests_are_refused_and_start_nothing(client, db):
    admin = _admin(db)
    teacher = factories.user(db, admin.institution, "teacher")
    db.commit()
    headers = factories.login(client, admin)
    cases = [
        ({**SEED, "initial_password": "short"}, 400, "initial_password"),
        ({**SEED, "slug": "Not A Slug"}, 400, "slug"),
        ({**SEED, "students": 0}, 400, "students"),
        ({**SEED, "surprise": 1}, 400, "surprise"),
        ({**SEED, "slug": admin.institution.slug}, 409, "slug"),
    ]
    for body, status, field in cases:
        response = client.post("/api/admin/seeds", json=body, headers=headers)
        assert (response.status_code, response.get_json().get("field")) == (status, field), body
    assert client.post("/api/admin/seeds", json=SEED, headers=factories.login(client, teacher)).status_code == 403
    assert db.scalar(sa.select(sa.func.count(Institution.id))) == 1


def test_the_same_slug_cannot_be_seeded_twice_at_once(client, db):
    admin = _admin(db)
    headers = factories.login(client, admin)
    assert client.post("/api/admin/seeds", json=SEED, headers=headers).status_code == 202
    assert client.post("/api/admin/seeds", json=SEED, headers=headers).status_code == 409
