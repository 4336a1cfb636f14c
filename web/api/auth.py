from __future__ import annotations

from flask import Blueprint, jsonify

from core.app import json_error, services, session
from core.auth import authenticate, issue_token
from web.api.guard import json_body

bp = Blueprint("auth", __name__)


@bp.post("/login")
def login():
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with email and password")
    email, password = body.get("email"), body.get("password")
    for field, value in (("email", email), ("password", password)):
        if not isinstance(value, str) or not value:
            return json_error(400, f"{field} is required", field=field)
    db = session()
    user = authenticate(db, email, password)
    if user is None:
        return json_error(401, "wrong email or password")
    token = issue_token(db, user, services().settings.token_ttl_seconds)
    db.commit()
    return jsonify({"token": token, "user": user.to_json()})
