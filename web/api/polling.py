"""Responses for things clients poll (jobs, workflows, batches): a strong ETag so an unchanged
resource costs a 304, and Retry-After as the polling interval until it is finished."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, jsonify, request

from core.app import services


def polled(body: dict[str, Any], finished: bool) -> Response:
    response = jsonify(body)
    response.set_etag(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32])
    response.headers["Cache-Control"] = "private, no-cache"
    if not finished:
        response.headers["Retry-After"] = str(services().settings.poll_interval_seconds)
    return response.make_conditional(request)
