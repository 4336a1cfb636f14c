"""The console's audit log as it is read: newest first, one page at a time by cursor on
(created_at, id) (ix_audit_log_created), filtered by action and by actor.

Who sees which entries: operators every entry. An admin sees the entries of actors of their own
institution only, theirs and their fellow admins'. Those are always about their institution's
jobs, since an admin can act on nothing else. An operator's entries are not shown to admins, not
even about their institution's jobs: an operator's action may span institutions (a bulk
reprocess of a filter, a paused type), and its count and filter would tell an admin about other
institutions' work. An entry whose actor's account is gone names nobody, and is an operator's
to read."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models import User
from core.models.ops import AuditEntry
from web.common.access import as_uuid
from web.common.dates import iso
from web.common.ops.access import owners_in_scope
from web.common.ops.batches import people, person
from web.common.ops.batches_filters import identifier, word
from web.common.ops.workflows import redacted
from web.common.pagination import Keyset, Page, PageRequest, paginate

#: Newest first, ties by id newest first: the order of ix_audit_log_created read backwards.
AUDIT_LOG = Keyset(((AuditEntry.created_at, True), (AuditEntry.id, True)))
ACTION_MAX = 32  # audit_log.action's length


def audit_filters(args: Mapping[str, str], form: bool = False) -> dict[str, Any]:
    return {"action": word(args, "action", ACTION_MAX, form), "actor": identifier(args, "actor", form)}


def audit_entries(user: User, action: str | None = None, actor: int | None = None) -> sa.Select:
    query = sa.select(AuditEntry)
    owners = owners_in_scope(user)
    if owners is not None:
        query = query.where(AuditEntry.actor_id.in_(owners.scalar_subquery()))
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if actor is not None:
        query = query.where(AuditEntry.actor_id == actor)
    return query.order_by(*AUDIT_LOG.ordered(forward=True))


def target_link(target: str | None) -> str | None:
    """The console page of an entry's target, when it is a job ("job:<id>")."""
    if target is None or not target.startswith("job:"):
        return None
    key = as_uuid(target.removeprefix("job:"))
    return f"/ops/jobs/{key}" if key else None


def entry_json(entry: AuditEntry, actor: User | None, viewer: User) -> dict[str, Any]:
    return {"id": entry.id, "created_at": iso(entry.created_at), "actor": person(actor, viewer),
            "action": entry.action, "target": entry.target, "target_url": target_link(entry.target),
            "count": entry.count, "detail": redacted(entry.detail or {})}


def audit_page_items(session: Session, page: Page[AuditEntry], viewer: User) -> list[dict[str, Any]]:
    actors = people(session, (e.actor_id for e in page.items))
    return [entry_json(e, actors.get(e.actor_id), viewer) for e in page.items]


def audit_listed(session: Session, viewer: User, args: Mapping[str, str],
                 form: bool = False) -> tuple[dict[str, Any], Page[AuditEntry], list[dict[str, Any]]]:
    """The log as GET /api/ops/audit and /ops/audit show it: (filters, page, rows)."""
    filters = audit_filters(args, form)
    page = paginate(session, audit_entries(viewer, **filters), PageRequest.from_args(args), keyset=AUDIT_LOG)
    return filters, page, audit_page_items(session, page, viewer)
