"""/api: grades (issue 13)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("grades", __name__)
