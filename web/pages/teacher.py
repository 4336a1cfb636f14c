"""Teacher pages: my classes, a class (students, activities, reports), publishing an activity
and following its notification batch live. Each has a JSON twin in web/api/ (classes, reports,
activities), through the same queries and actions in web/common/; the job pages (every role) are
in web/pages/jobs.py."""
from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for

from core.app import services, session
from core.db import utcnow
from core.jobs.outbox import commit_and_send
from core.jobs.types import REPORT
from core.models import Activity, SchoolClass
from core.parsing import InputError
from core.reports import REPORT_FORMATS, REPORT_KINDS
from web.common.access import class_students, visible_class
from web.common.activities import DESCRIPTION_MAX, TITLE_MAX, activity_progress, publish_to_class
from web.common.activity_edits import NotEditable, due_in_past, edit_activity, unpublish_activity
from web.common.activity_standing import class_activities, teacher_activity
from web.common.classes import classes_with_counts, student_count
from web.common.dates import from_input, input_value, zone_label
from web.common.pagination import SEARCH_MAX, PageParamError, PageRequest, paginate
from web.common.refusal import Refusal, found
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
    activities = paginate(db, class_activities(school_class.id), PageRequest(1, ACTIVITIES_ON_CLASS_PAGE))
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


class FormProblem(Exception):
    def __init__(self, message: str, past_due: bool = False):
        super().__init__(message)
        self.message = message
        self.past_due = past_due


def _read_activity_form(form: dict[str, str], *, scheduling: bool) -> dict[str, Any]:
    """The activity form's values as the actions take them; times typed in the teacher's own
    zone. Raises FormProblem with what to tell them (past_due: only the confirmation is missing)."""
    zone = g.user.time_zone
    title = form["title"].strip()
    if not title or len(title) > TITLE_MAX:
        raise FormProblem(f"Give the activity a title (1 to {TITLE_MAX} characters).")
    if len(form["description"]) > DESCRIPTION_MAX:
        raise FormProblem(f"The description can be at most {DESCRIPTION_MAX:,} characters.")
    try:
        due_at = from_input(form["due_at"].strip(), "due_at", zone) if form["due_at"].strip() else None
    except InputError:
        raise FormProblem(f"The due date must be a date and time, like 2026-12-01 23:59 ({zone_label(zone)}).") from None
    values: dict[str, Any] = {"title": title, "description": form["description"], "due_at": due_at,
                              "allow_late": form.get("allow_late") == "1"}
    if scheduling and form.get("when") == "later":
        try:
            publish_at = from_input(form["publish_at"].strip(), "publish_at", zone)
        except InputError:
            raise FormProblem("Choose when to publish it: a date and time, like 2026-12-01 08:00.") from None
        if publish_at <= utcnow():
            raise FormProblem("The publish time has passed: choose a later one, or publish now.")
        values["publish_at"] = publish_at
    return values


def _past_due_problem(values: dict[str, Any], form: dict[str, str]) -> None:
    if due_in_past(values["due_at"], utcnow()) and form.get("confirm_past_due") != "1":
        raise FormProblem("The due date is in the past: students will see the activity as already due. "
                          "Tick the box to confirm that this is what you want.", past_due=True)


PUBLISH_FORM = ("title", "description", "due_at", "allow_late", "when", "publish_at", "confirm_past_due")


def _publish_form_page(school_class: SchoolClass, form: dict[str, str], problem: FormProblem | None = None,
                       status: int = 200):
    return render_template("teacher/publish.html", title="Publish an activity", school_class=school_class,
                           form=form, error=problem.message if problem else None,
                           past_due=bool(problem and problem.past_due), title_max=TITLE_MAX,
                           description_max=DESCRIPTION_MAX), status


@bp.route("/teacher/classes/<int:class_id>/activities/new", methods=["GET", "POST"])
@page_login_required("teacher")
def publish_activity_page(class_id: int):
    """Fill in the form; then a confirmation step naming how many students will be emailed (now,
    or at the publish time); only its "Publish" button (confirmed=1) publishes or schedules."""
    school_class = _own_class(class_id)
    if request.method == "GET":
        return _publish_form_page(school_class, dict.fromkeys(PUBLISH_FORM, "") | {"when": "now"})
    form = {key: request.form.get(key, "") for key in PUBLISH_FORM}
    try:
        values = _read_activity_form(form, scheduling=True)
        _past_due_problem(values, form)
    except FormProblem as problem:
        return _publish_form_page(school_class, form, problem, 400)
    db = session()
    students = student_count(db, school_class)
    if request.form.get("confirmed") != "1":
        return render_template("teacher/publish_confirm.html", title="Publish an activity?",
                               school_class=school_class, form=form, values=values, students=students)
    try:
        published = publish_to_class(db, school_class.id, g.user, values["title"], values["description"],
                                     values["due_at"], max_in_flight=services().settings.max_jobs_in_flight,
                                     allow_late=values["allow_late"], publish_at=values.get("publish_at"))
    except QuotaExceeded as exc:
        db.rollback()
        page, _status = _publish_form_page(school_class, form, FormProblem(str(exc)))
        return page, 429, {"Retry-After": str(exc.retry_after)}
    if published is None:  # no longer their class
        db.rollback()
        raise Refusal(404, "No such class among yours.")
    activity, job = published
    commit_and_send(db, services().queue)
    if job is None:  # scheduled
        return redirect(url_for("pages.activity_page", activity_id=activity.id), code=303)
    return redirect(url_for("pages.teacher_activity", activity_id=activity.id), code=303)


def _own_activity(activity_id: int) -> Activity:
    return found(teacher_activity(session(), g.user, activity_id), "No such activity in your classes.")


EDIT_FORM = ("title", "description", "due_at", "allow_late", "when", "publish_at", "confirm_past_due")


def _edit_page(activity: Activity, form: dict[str, str], problem: FormProblem | None = None, status: int = 200):
    return render_template("teacher/edit.html", title=f"Edit {activity.title}", activity=activity,
                           school_class=activity.school_class, form=form,
                           error=problem.message if problem else None, past_due=bool(problem and problem.past_due),
                           title_max=TITLE_MAX, description_max=DESCRIPTION_MAX,
                           students=student_count(session(), activity.school_class)), status


@bp.route("/teacher/activities/<int:activity_id>/edit", methods=["GET", "POST"])
@page_login_required("teacher")
def edit_activity_page(activity_id: int):
    activity = _own_activity(activity_id)
    if activity.status == "unpublished":
        raise Refusal(409, "An unpublished activity cannot be edited.")
    zone = g.user.time_zone
    if request.method == "GET":
        form = {"title": activity.title, "description": activity.description or "",
                "due_at": input_value(activity.due_at, zone), "allow_late": "1" if activity.allow_late else "",
                "when": "later", "publish_at": input_value(activity.publish_at, zone), "confirm_past_due": ""}
        return _edit_page(activity, form)
    form = {key: request.form.get(key, "") for key in EDIT_FORM}
    form["when"] = "later"  # an edit keeps the activity's status; a scheduled one may move its time
    try:
        values = _read_activity_form(form, scheduling=activity.status == "scheduled")
        # The form shows minutes: a time left as shown keeps its seconds, and is no change.
        for name in ("due_at", "publish_at"):
            if name in values and form[name].strip() == input_value(getattr(activity, name), zone):
                values[name] = getattr(activity, name)
        if values["due_at"] != activity.due_at:
            _past_due_problem(values, form)
    except FormProblem as problem:
        return _edit_page(activity, form, problem, 400)
    db = session()
    try:
        edit_activity(db, activity, values, utcnow())
    except NotEditable as exc:
        db.rollback()
        return _edit_page(activity, form, FormProblem(exc.message), 409)
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.activity_page", activity_id=activity.id), code=303)


@bp.route("/teacher/activities/<int:activity_id>/unpublish", methods=["GET", "POST"])
@page_login_required("teacher")
def unpublish_activity_page(activity_id: int):
    """GET asks (naming how many students will be told); the POST takes it back."""
    activity = _own_activity(activity_id)
    db = session()
    if request.method == "GET":
        return render_template("teacher/unpublish.html", title=f"Unpublish {activity.title}", activity=activity,
                               school_class=activity.school_class, students=student_count(db, activity.school_class))
    unpublish_activity(db, activity, utcnow())
    commit_and_send(db, services().queue)
    return redirect(url_for("pages.activity_page", activity_id=activity.id), code=303)


@bp.get("/teacher/activities/<int:activity_id>", endpoint="teacher_activity")
@page_login_required("teacher")
def teacher_activity_page(activity_id: int):
    db = session()
    activity = _own_activity(activity_id)
    progress, finished = activity_progress(db, activity, g.user.id)
    return render_template("teacher/activity.html", title=activity.title, activity=activity,
                           school_class=activity.school_class, progress=progress, finished=finished)
