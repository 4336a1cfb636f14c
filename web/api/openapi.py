"""GET /api/openapi.json: the API's OpenAPI 3.1 document.

The document is written by hand in openapi.yaml (next to this file) and served as JSON.
tests/web/test_openapi.py validates it and checks that its paths and methods are exactly the
app's registered /api routes, so the two cannot drift apart."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)
SPEC_PATH = Path(__file__).with_name("openapi.yaml")


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    import yaml  # PyYAML; loaded once per process

    with SPEC_PATH.open(encoding="utf-8") as spec:
        return yaml.safe_load(spec)


@bp.get("/openapi.json")
def openapi_json():
    response = jsonify(openapi_document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
