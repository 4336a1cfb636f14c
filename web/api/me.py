"""The caller's own settings: `/api/me/...`. The time zone every page shows times in (the API
itself always speaks UTC): set from the account page, or guessed once by the browser
(web/static/timezone.js sends `only_if_unset`, so a guess never overwrites a choice)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from core.app import json_error, session
from core.parsing import InputError, known_fields
from web.api.guard import current_user, json_body, login_required
from web.common.dates import valid_zone
from web.common.time_zones import set_time_zone

bp = Blueprint("me", __name__)


@bp.get("/me/time-zone")
@login_required
def show_time_zone():
    user = current_user()
    return jsonify({"time_zone": user.time_zone, "shown_in": user.time_zone or "UTC"})


@bp.put("/me/time-zone")
@login_required
def put_time_zone():
    body = json_body()
    if body is None:
        return json_error(400, "send a JSON object with time_zone")
    try:
        known_fields(body, ("time_zone", "only_if_unset"))
        zone = valid_zone(body.get("time_zone"))
        only_if_unset = body.get("only_if_unset", False)
        if not isinstance(only_if_unset, bool):
            raise InputError("only_if_unset", "only_if_unset must be true or false")
    except InputError as exc:
        return json_error(400, exc.message, field=exc.field)
    db, user = session(), current_user()
    changed = set_time_zone(db, user, zone, only_if_unset=only_if_unset)
    db.commit()
    db.refresh(user)
    return jsonify({"time_zone": user.time_zone, "shown_in": user.time_zone or "UTC", "changed": changed})
