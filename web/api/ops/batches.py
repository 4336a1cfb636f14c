"""/api/ops/: batches (issue 11)."""
from __future__ import annotations

from web.api.ops.blueprint import bp  # noqa: F401
