"""/api: preferences (issue 13)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("preferences", __name__)
