from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint

from web.common.ops.access import CONSOLE_ROLES
from web.sessions import page_login_required

bp = Blueprint("pages", __name__, template_folder="../templates", static_folder="../static",
               static_url_path="/static")


def console_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """The operations console's pages: operators and institution admins only."""
    return page_login_required(*CONSOLE_ROLES)(view)
