"""/api/ops/audit: the console's audit log, newest first by cursor, filtered by action and actor
(who sees which entries: web/common/ops/audit_log.py)."""
from __future__ import annotations

from flask import jsonify, request

from core.app import session
from web.api.guard import current_user
from web.api.ops.blueprint import bp, console_required
from web.common.ops.audit_log import AUDIT_LOG, audit_entries, audit_filters, audit_page_items
from web.common.pagination import PageRequest, paginate


@bp.get("/ops/audit")
@console_required
def audit_list():
    user, req, filters = current_user(), PageRequest.from_args(request.args), audit_filters(request.args)
    page = paginate(session(), audit_entries(user, **filters), req, keyset=AUDIT_LOG)
    return jsonify({"items": audit_page_items(session(), page, user), **filters, **page.meta()})
