from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint

from web.api.guard import current_user, login_required
from web.common.ops.access import console_user

bp = Blueprint("ops", __name__)


def console_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """login_required, and the caller must be an operator or an institution admin (403 otherwise)."""

    @login_required
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        console_user(current_user())
        return view(*args, **kwargs)

    return wrapper
