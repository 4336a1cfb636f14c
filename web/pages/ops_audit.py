"""Operations console pages: the audit log (issue 11). JSON twin: GET /api/ops/audit
(web/api/ops/audit.py); who sees which entries: web/common/ops/audit_log.py."""
from __future__ import annotations

from flask import g, render_template, request

from core.app import session
from web.common.ops.access import is_operator
from web.common.ops.audit_log import audit_listed
from web.common.ops.live_lists import first_page_poll
from web.pages.blueprint import bp, console_page


@bp.get("/ops/audit")
@console_page
def ops_audit():
    filters, page, rows = audit_listed(session(), g.user, request.args, form=True)
    return render_template("ops/audit.html", title="Audit log", here="audit", page=page, filters=filters,
                           rows=rows, operator=is_operator(g.user),
                           poll_url=first_page_poll("ops.audit_list", filters, page, request.args))
