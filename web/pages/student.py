"""Student pages: my classes (paginated), each with its published activities, and a page per
class with all its activities (paginated), each linked to its page with the student's status. JSON equivalents: GET /api/classes... (scoped)."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from flask import g, render_template, request

from core.app import session
from core.models import Activity, SchoolClass, User
from web.common.access import visible_activities, visible_class, visible_classes
from web.common.activity_standing import STATUS_LABELS, student_statuses
from web.common.pagination import PageRequest, paginate
from web.common.refusal import found
from web.pages.blueprint import bp
from web.sessions import page_login_required


@bp.get("/student/classes")
@page_login_required("student")
def student_classes():
    db = session()
    statement = visible_classes(g.user).order_by(SchoolClass.code, SchoolClass.id)
    page = paginate(db, statement, PageRequest.from_args(request.args))
    # The activities of the classes on this page only, in one query.
    activities: dict[int, list[Activity]] = defaultdict(list)
    class_ids = [c.id for c in page.items]
    if class_ids:
        for activity in db.scalars(visible_activities(g.user).where(Activity.class_id.in_(class_ids))):
            activities[activity.class_id].append(activity)
    teachers = {u.id: u for u in db.scalars(sa.select(User).where(User.id.in_({c.teacher_id for c in page.items})))}
    ids = [a.id for listed in activities.values() for a in listed]
    return render_template("student/classes.html", title="My classes", page=page, activities=activities,
                           teachers=teachers, statuses=student_statuses(db, g.user.id, ids),
                           status_labels=STATUS_LABELS)


@bp.get("/student/classes/<int:class_id>")
@page_login_required("student")
def student_class(class_id: int):
    db = session()
    school_class = found(visible_class(db, g.user, class_id), "You are not in that class.")
    page = paginate(db, visible_activities(g.user, class_id=class_id), PageRequest.from_args(request.args))
    return render_template("student/class.html", title=f"{school_class.code} {school_class.name}",
                           school_class=school_class, page=page, teacher=db.get(User, school_class.teacher_id),
                           statuses=student_statuses(db, g.user.id, [a.id for a in page.items]),
                           status_labels=STATUS_LABELS)
