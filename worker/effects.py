"""External effects recorded once by a unique key (an email to one student about one
activity, one stored file per report job), so a redelivered job does not repeat them."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from core.db import insert_or_ignore, utcnow
from core.models import Effect


def record_effect(session: Session, key: str, job_id: uuid.UUID | None, detail: dict[str, Any]) -> bool:
    """Record an external effect; it commits with the job's outcome. False if the key was
    already recorded (by another job)."""
    return insert_or_ignore(session, Effect, ["key"], key=key, job_id=job_id, detail=detail, created_at=utcnow())
