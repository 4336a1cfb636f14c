"""/api/ops/audit: the console's audit log, newest first by cursor, filtered by action and actor
(who sees which entries: web/common/ops/audit_log.py); polled by the console's list (ETag,
Retry-After)."""
from __future__ import annotations

from flask import request

from core.app import session
from web.api.guard import current_user
from web.api.ops.blueprint import bp, console_required
from web.api.polling import polled
from web.common.ops.audit_log import audit_listed


@bp.get("/ops/audit")
@console_required
def audit_list():
    filters, page, rows = audit_listed(session(), current_user(), request.args)
    return polled({"items": rows, **filters, **page.meta()}, finished=False)
