"""Operations console pages: the audit log (issue 11). JSON twin: GET /api/ops/audit
(web/api/ops/audit.py); who sees which entries: web/common/ops/audit_log.py."""
from __future__ import annotations

from flask import g, render_template, request

from core.app import session
from web.common.ops.access import is_operator
from web.common.ops.audit_log import AUDIT_LOG, audit_entries, audit_filters, audit_page_items
from web.common.pagination import PageRequest, paginate
from web.pages.blueprint import bp, console_page


@bp.get("/ops/audit")
@console_page
def ops_audit():
    filters = audit_filters(request.args, form=True)
    page = paginate(session(), audit_entries(g.user, **filters), PageRequest.from_args(request.args),
                    keyset=AUDIT_LOG)
    return render_template("ops/audit.html", title="Audit log", here="audit", page=page, filters=filters,
                           rows=audit_page_items(session(), page, g.user), operator=is_operator(g.user))
