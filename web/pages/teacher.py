"""Teacher pages: my classes, a class (students, activities, reports), publishing an activity
and following its notification batch live. Each has a JSON twin in web/api/ (classes, reports,
activities), through the same queries and actions in web/common/; the job pages (every role) are
in web/pages/jobs.py."""
from __future__ import annotations

from datetime import datetime

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.jobs.outbox import commit_and_send
from core.jobs.types import REPORT
from core.models import SchoolClass
from core.parsing import InputError, aware_datetime
from core.reports import REPORT_FORMATS, REPORT_KINDS
from web.common.access import class_students, visible_activities, visible_class
from web.common.activities import DESCRIPTION_MAX, TITLE_MAX, activity_progress, publish_activity
from web.common.classes import classes_with_counts, student_count, taught_activity
from web.common.pagination import SEARCH_MAX, PageParamError, PageRequest, paginate
from web.common.refusal import found
from web.common.reports import ask_for_report
from web.common.submit import QuotaExceeded
from web.pages.blueprint import bp
from web.sessions import page_login_required

ACTIVITIES_ON_CLASS_PAGE = 20
REPORT_LABELS = {"class_roster": "Roster", "class_grades": "Grades"}
FORMAT_LABELS = {"csv": "CSV", "xlsx": "Excel (XLSX)"}
# What the form says when REPORT.parse names a field at fault.
REPORT_FORM_ERRORS = {"kind": "Choose which report you want: roster or grades.",
                      "format": "Choose a file format: CSV or XLSX."}


@bp.get("/teacher/classes")
@page_login_required("teacher")
def teacher_classes():
    page = paginate(session(), classes_with_counts(g.user), PageRequest.from_args(request.args), scalars=False)
    return render_template("teacher/classes.html", title="My classes", page=page)


def _own_class(class_id: int) -> SchoolClass:
    # visible_class scopes a teacher to their own classes: anyone else's is "not found".
    return found(visible_class(session(), g.user, class_id), "No such class among yours.")


def _class_page(school_class: SchoolClass, status: int = 200, error: str | None = None,
                report: dict | None = None):
    req = PageRequest.from_args(request.args)
    q = (request.args.get("q") or "").strip()
    if len(q) > SEARCH_MAX:
        raise PageParamError("q", f"search must be at most {SEARCH_MAX} characters")
    db = session()
    students = paginate(db, class_students(school_class, q or None), req)
    activities = paginate(db, visible_activities(g.user, school_class.id), PageRequest(1, ACTIVITIES_ON_CLASS_PAGE))
    return render_template(
        "teacher/class.html", title=f"{school_class.code} {school_class.name}", school_class=school_class,
        students=students, q=q, activities=activities, enrolled=student_count(db, school_class),
        error=error, report=report or {"kind": "class_roster", "format": "csv"},
        report_kinds=[(k, REPORT_LABELS.get(k, k)) for k in REPORT_KINDS],
        report_formats=[(f, FORMAT_LABELS.get(f, f)) for f in REPORT_FORMATS],
    ), status


@bp.get("/teacher/classes/<int:class_id>")
@page_login_required("teacher")
def teacher_class(class_id: int):
    return _class_page(_own_class(class_id))


@bp.post("/teacher/classes/<int:class_id>/reports")
@page_login_required("teacher")
def request_report(class_id: int):
    school_class = _own_class(class_id)
    report = {"kind": request.form.get("kind", ""), "format": request.form.get("format", "")}
    try:
        payload = REPORT.parse({**report, "class_id": school_class.id})
    except InputError as exc:
        return _class_page(school_class, 400, REPORT_FORM_ERRORS.get(exc.field, exc.message), report)
    db = session()
    try:
        submitted = ask_for_report(db, g.user, payload, services().settings.max_jobs_in_flight)
    except QuotaExceeded as exc:
        db.rollback()
        page, status = _class_page(school_class, 429, str(exc), report)
        return page, status, {"Retry-After": str(exc.retry_after)}
    commit_and_send(db, services().queue)
    # The same report already in progress goes to that job rather than starting a second one.
    return redirect(url_for("pages.job_page", job_id=submitted.job.id), code=303)


def _parse_due(raw: str) -> datetime | None:
    """An <input type="datetime-local"> value ("2026-12-01T23:59"), read as UTC (InputError
    for anything else, core.parsing's one date-time rule)."""
    return aware_datetime(raw, "due_at", local_utc=True) if raw else None


@bp.route("/teacher/classes/<int:class_id>/activities/new", methods=["GET", "POST"])
@page_login_required("teacher")
def publish_activity_page(class_id: int):
    school_class = _own_class(class_id)
    form = {"title": "", "description": "", "due_at": ""}
    if request.method == "GET":
        return render_template("teacher/publish.html", title="Publish an activity", school_class=school_class,
                               form=form, error=None, title_max=TITLE_MAX, description_max=DESCRIPTION_MAX)
    form = {key: request.form.get(key, "") for key in form}

    def again(message: str):
        return render_template("teacher/publish.html", title="Publish an activity", school_class=school_class,
                               form=form, error=message, title_max=TITLE_MAX,
                               description_max=DESCRIPTION_MAX), 400

    title = form["title"].strip()
    if not title or len(title) > TITLE_MAX:
        return again(f"Give the activity a title (1 to {TITLE_MAX} characters).")
    if len(form["description"]) > DESCRIPTION_MAX:
        return again(f"The description can be at most {DESCRIPTION_MAX:,} characters.")
    try:
        due_at = _parse_due(form["due_at"].strip())
    except InputError:
        return again("The due date must be a date and time, like 2026-12-01 23:59 (UTC).")
    db = session()
    try:
        activity, _job = publish_activity(db, school_class, g.user, title, form["description"], due_at,
                                          max_in_flight=services().settings.max_jobs_in_flight)
    except QuotaExceeded as exc:
        db.rollback()
        page, _status = again(str(exc))
        return page, 429, {"Retry-After": str(exc.retry_after)}
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.teacher_activity", activity_id=activity.id), code=303)


@bp.get("/teacher/activities/<int:activity_id>")
@page_login_required("teacher")
def teacher_activity(activity_id: int):
    db = session()
    activity = found(taught_activity(db, g.user, activity_id), "No such activity in your classes.")
    progress, finished = activity_progress(db, activity, g.user.id)
    return render_template("teacher/activity.html", title=activity.title, activity=activity,
                           school_class=activity.school_class, progress=progress, finished=finished)
