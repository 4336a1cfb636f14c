"""The audit log: every console action, written in the action's own transaction (the entry and
the change commit together or not at all)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import User
from core.models.ops import AuditEntry


def record(session: Session, actor: User, action: str, target: str | None, count: int | None = None,
           **detail: Any) -> AuditEntry:
    """Add an entry for `actor` doing `action` to `target` (e.g. "job:<id>", "type:email",
    "filter"), touching `count` jobs; not committed."""
    entry = AuditEntry(actor_id=actor.id, action=action, target=target, count=count, detail=detail)
    session.add(entry)
    return entry


def newest(session: Session, limit: int = 50) -> list[AuditEntry]:
    return list(session.scalars(sa.select(AuditEntry).order_by(AuditEntry.created_at.desc(),
                                                               AuditEntry.id.desc()).limit(limit)))
