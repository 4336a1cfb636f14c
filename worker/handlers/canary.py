"""The `canary` job (core/jobs/types.py CANARY): succeeds at once, so what it measures is the
engine itself: the claim, the record of success and sqsd's round trip."""
from __future__ import annotations

from typing import Any

from core.jobs.types import CANARY, CanaryPayload
from worker.context import JobContext
from worker.handlers import handles


@handles(CANARY)
def canary(ctx: JobContext, payload: CanaryPayload) -> dict[str, Any]:
    return {"ok": True, "note": payload.note}
