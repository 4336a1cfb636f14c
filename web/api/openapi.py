"""GET /api/openapi.json: the API's OpenAPI 3.1 document.

The document is written by hand in openapi.yaml (next to this file), with the operations
console's paths and schemas in openapi_parts/*.yaml (one file per area, merged in name order),
and served as JSON.
tests/web/test_openapi.py validates it and checks that its paths and methods are exactly the
app's registered /api routes, so the two cannot drift apart."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)
SPEC_PATH = Path(__file__).with_name("openapi.yaml")
PARTS_DIR = Path(__file__).with_name("openapi_parts")


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    import yaml  # PyYAML; loaded once per process

    document = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    for part_path in sorted(PARTS_DIR.glob("*.yaml")):
        part = yaml.safe_load(part_path.read_text(encoding="utf-8")) or {}
        _merge(document, part, part_path.name)
    return document


def _merge(document: dict[str, Any], part: dict[str, Any], name: str) -> None:
    """Add a part's paths and component schemas; a name defined twice is a mistake, not an override."""
    for section, into in (("paths", document.setdefault("paths", {})),
                          ("schemas", document.setdefault("components", {}).setdefault("schemas", {}))):
        found = part.get(section) if section == "paths" else part.get("components", {}).get("schemas")
        for key, value in (found or {}).items():
            if key in into:
                raise ValueError(f"openapi_parts/{name} defines {section} {key!r} a second time")
            into[key] = value


@bp.get("/openapi.json")
def openapi_json():
    response = jsonify(openapi_document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
