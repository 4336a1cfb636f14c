"""Logins: POST /api/login (throttled), POST /api/logout, and a user's own logins
(GET /api/tokens, DELETE /api/tokens/<id>): bearer tokens and browser sessions alike."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from core.app import json_error, services, session
from core.auth import issue_token, live_logins, revoke
from core.parsing import InputError, known_fields
from web.api.guard import current_login_id, current_user, json_body, login_required
from web.common.dates import iso
from web.login_throttle import LoginThrottled, throttled_login

bp = Blueprint("auth", __name__)


def throttled_response(exc: LoginThrottled):
    response, status = json_error(429, str(exc), retry_after=exc.retry_after)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response, status


@bp.post("/login")
def login():
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with email and password")
    try:
        known_fields(body, ("email", "password"))
    except InputError as exc:
        return json_error(400, exc.message, field=exc.field)
    email, password = body.get("email"), body.get("password")
    for field, value in (("email", email), ("password", password)):
        if not isinstance(value, str) or not value:
            return json_error(400, f"{field} is required", field=field)
    db = session()
    try:
        user = throttled_login(db, email, password, request.remote_addr)
    except LoginThrottled as exc:
        return throttled_response(exc)
    if user is None:
        return json_error(401, "wrong email or password")
    token = issue_token(db, user, services().settings.token_ttl_seconds, user_agent=request.headers.get("User-Agent"))
    db.commit()
    return jsonify({"token": token, "user": user.to_json()})


@bp.post("/logout")
@login_required
def logout():
    """End the login this call is made with (its bearer token, or the browser session)."""
    db = session()
    revoke(db, current_user().id, current_login_id())
    db.commit()
    return jsonify({"revoked": current_login_id()})


@bp.get("/tokens")
@login_required
def list_tokens():
    current = current_login_id()
    return jsonify({"items": [
        {"id": t.id, "kind": t.kind, "user_agent": t.user_agent, "current": t.id == current,
         "created_at": iso(t.created_at), "expires_at": iso(t.expires_at)}
        for t in live_logins(session(), current_user().id)
    ]})


@bp.delete("/tokens/<int:token_id>")
@login_required
def revoke_token(token_id: int):
    db = session()
    if not revoke(db, current_user().id, token_id):
        return json_error(404, f"token {token_id} not found")
    db.commit()
    return jsonify({"revoked": token_id})
