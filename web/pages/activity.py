"""The activity page, /activities/<id>: what every notification and email about an activity
links to. For the class's enrolled students (published activities only) and its teacher (any
status, with links to follow its delivery, edit or unpublish it, and see the submissions);
anyone else gets a 404. JSON: GET /api/activities/<id>."""
from __future__ import annotations

from flask import g, render_template

from core.app import session
from web.common.activity_standing import STATUS_LABELS, student_activity, student_statuses, teacher_activity
from web.common.refusal import found
from web.common.text_links import linked_text
from web.pages.blueprint import bp
from web.sessions import page_login_required

bp.add_app_template_filter(linked_text, "linked_text")


@bp.get("/activities/<int:activity_id>")
@page_login_required("teacher", "student")
def activity_page(activity_id: int):
    db, user = session(), g.user
    if user.role == "teacher":
        activity = found(teacher_activity(db, user, activity_id), "No such activity.")
        status = None
    else:
        activity = found(student_activity(db, user, activity_id), "No such activity.")
        status = student_statuses(db, user.id, [activity.id])[activity.id]
    return render_template("activity.html", title=activity.title, activity=activity,
                           school_class=activity.school_class, teacher=activity.school_class.teacher,
                           viewer=user.role, status=status, status_label=STATUS_LABELS.get(status or "", ""))
