"""/api/me/preferences: what the caller gets beyond the inbox for each kind of notification
(email now, the daily digest, or nothing; core/notifying.py decides with it)."""
from __future__ import annotations

from flask import Blueprint

from core.app import json_error, session
from core.parsing import InputError, known_fields
from web.api.guard import current_user, json_body, login_required
from web.common.preferences import parse_choices, preferences_json, set_channels

bp = Blueprint("preferences", __name__)


@bp.get("/me/preferences")
@login_required
def my_preferences():
    return preferences_json(session(), current_user())


@bp.put("/me/preferences")
@login_required
def set_my_preferences():
    body = json_body()
    if body is None:
        return json_error(400, 'send a JSON object {"preferences": {"<kind>": "email" | "digest" | "off"}}')
    try:
        known_fields(body, ("preferences",))
        choices = parse_choices(body.get("preferences"))
    except InputError as exc:
        return json_error(400, exc.message, field=exc.field)
    db, user = session(), current_user()
    set_channels(db, user.id, choices)
    db.commit()
    return preferences_json(db, user)
