"""POST /api/login and bearer tokens."""
from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import sqlalchemy as sa

from core.db import utcnow
from core.models import ApiToken
from tests import factories


def _login(client, email, password=factories.PASSWORD):
    return client.post("/api/login", json={"email": email, "password": password})


def _job_status(client, headers) -> int:
    # Any job id: a valid token gets past authentication to "not found".
    return client.get(f"/api/jobs/{uuid.uuid4()}", headers=headers).status_code


def test_login_returns_a_token_and_the_user(client, person):
    response = _login(client, person.email)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"token", "user"} and isinstance(body["token"], str) and len(body["token"]) >= 32
    assert body["user"] == {
        "id": person.id,
        "email": person.email,
        "full_name": person.full_name,
        "role": "teacher",
        "institution_id": person.institution_id,
    }


def test_login_response_has_no_password_hash(client, person):
    text = _login(client, person.email).get_data(as_text=True)
    assert person.password_hash not in text
    assert "password" not in text and "hash" not in text


def test_email_is_case_insensitive_and_trimmed(client, person):
    assert _login(client, f"  {person.email.upper()} ").status_code == 200


def test_wrong_password_and_unknown_email_look_the_same(client, person):
    wrong_password = _login(client, person.email, "not the password")
    unknown_email = _login(client, "nobody@example.test")
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.get_json() == unknown_email.get_json()
    assert "error" in wrong_password.get_json()


def test_missing_or_malformed_fields_are_400_naming_the_field(client):
    for body, field in [
        ({}, "email"),
        ({"password": factories.PASSWORD}, "email"),
        ({"email": "", "password": factories.PASSWORD}, "email"),
        ({"email": 42, "password": factories.PASSWORD}, "email"),
        ({"email": "a@example.test"}, "password"),
        ({"email": "a@example.test", "password": ""}, "password"),
        ({"email": "a@example.test", "password": ["x"]}, "password"),
    ]:
        response = client.post("/api/login", json=body)
        assert response.status_code == 400 and response.get_json()["field"] == field, body


def test_a_body_that_is_not_a_json_object_is_400(client):
    for data in ("email=a&password=b", "[1, 2]", "{broken", ""):
        response = client.post("/api/login", data=data, content_type="application/json")
        assert response.status_code == 400 and "error" in response.get_json(), data
    assert client.post("/api/login", data={"email": "a", "password": "b"}).status_code == 400  # a form post


def test_the_token_works_as_a_bearer_token(client, person):
    token = _login(client, person.email).get_json()["token"]
    assert _job_status(client, {"Authorization": f"Bearer {token}"}) == 404
    assert _job_status(client, {"Authorization": f"bearer {token}"}) == 404  # the scheme is case-insensitive


def test_no_valid_bearer_token_is_401(client):
    for authorization in (None, "", "Bearer", "Bearer ", "Bearer garbage-token", "TOKEN", "Basic dXNlcjpwYXNz"):
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.get(f"/api/jobs/{uuid.uuid4()}", headers=headers)
        assert response.status_code == 401 and "error" in response.get_json(), authorization
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), authorization


def test_a_valid_token_without_the_bearer_scheme_is_401(client, person):
    token = _login(client, person.email).get_json()["token"]
    for authorization in (token, f"Token {token}", f"Basic {token}"):
        assert _job_status(client, {"Authorization": authorization}) == 401, authorization


def test_an_expired_token_is_401(client, db, person):
    headers = factories.login(client, person)
    db.execute(sa.update(ApiToken).where(ApiToken.user_id == person.id).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.commit()
    assert _job_status(client, headers) == 401


def test_the_token_expires_after_token_ttl_seconds(client, db, person):
    before = utcnow()
    factories.login(client, person)
    expires_at = db.scalar(sa.select(ApiToken.expires_at).where(ApiToken.user_id == person.id))
    assert before + timedelta(hours=12) <= expires_at <= utcnow() + timedelta(hours=12)


def test_only_the_tokens_sha256_is_stored(client, db, person):
    token = _login(client, person.email).get_json()["token"]
    rows = db.execute(sa.select(ApiToken.__table__)).mappings().all()
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in rows[0].values())
