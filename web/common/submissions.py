"""Submissions, for the API (web/api/submissions.py) and the pages (web/pages/submissions.py):
who may submit what and when, recording a submission (its files then checked by the worker's
`submission_check`), the teacher's list of who submitted, one file's download and the ZIP of all.

When: until the due date a student submits and resubmits freely; after it the submission is
late if the activity allows late work, refused (409) otherwise; an activity that is not
published (scheduled, or taken back) takes none. A resubmission replaces the text and the set of
files: files kept keep their verdict, new ones are checked, dropped ones are forgotten.

Who: only an enrolled student, for their own submission (an activity they cannot see is a 404,
as is anyone else's file); only the class's teacher lists, downloads and zips them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.db import insert_or_ignore, utcnow
from core.jobs.types import SUBMISSION_CHECK, SUBMISSIONS_ZIP, SubmissionCheckPayload, SubmissionsZipPayload
from core.models import Activity, Enrollment, SchoolClass, Submission, SubmissionFile, User
from core.parsing import text
from core.submissions import BODY_MAX, MAX_FILES, file_type, parse_key
from web.common.access import class_students, teaches, visible_activities
from web.common.dates import iso
from web.common.pagination import Page, PageRequest, paginate
from web.common.refusal import Refusal
from web.common.submit import Submitted, submit

SUBMISSION_STATES = ("not_submitted", "submitted", "late")
_BLANK = re.compile(r"\s*")


def visible_activity(db: Session, user: User, activity_id: int) -> Activity:
    activity = db.scalar(visible_activities(user).where(Activity.id == activity_id))
    if activity is None:
        raise Refusal(404, f"activity {activity_id} not found")
    return activity


def activity_for_student(db: Session, user: User, activity_id: int) -> Activity:
    """The activity a student may submit to right now (their class's, published, before the due
    date or late work allowed), else a Refusal: 404 for one they cannot see, 403 for a teacher
    or admin, 409 for one closed to submissions (the message says why)."""
    activity = visible_activity(db, user, activity_id)
    if user.role != "student":
        raise Refusal(403, "only the class's students submit work")
    closed = closed_because(activity, utcnow())
    if closed is not None:
        raise Refusal(409, closed, activity_status=activity.status)
    return activity


def closed_because(activity: Activity, now: datetime) -> str | None:
    """Why the activity takes no submission now, or None."""
    if activity.status != "published":
        return "this activity is not published, so it takes no submissions"
    if is_late(activity, now) and not activity.allow_late:
        return "the due date has passed and this activity does not accept late work"
    return None


def is_late(activity: Activity, now: datetime) -> bool:
    return activity.due_at is not None and now > activity.due_at


def own_submission(db: Session, user: User, activity_id: int) -> Submission | None:
    return db.scalar(sa.select(Submission).where(Submission.activity_id == activity_id,
                                                 Submission.student_id == user.id))


def files_of(db: Session, submission_ids: list[int]) -> dict[int, list[SubmissionFile]]:
    files: dict[int, list[SubmissionFile]] = {i: [] for i in submission_ids}
    if submission_ids:
        for row in db.scalars(sa.select(SubmissionFile).where(SubmissionFile.submission_id.in_(submission_ids))
                              .order_by(SubmissionFile.id)):
            files[row.submission_id].append(row)
    return files


@dataclass(frozen=True)
class Recorded:
    submission: Submission
    files: list[SubmissionFile]
    check: Submitted | None  # the check job, when there were new files


def parse_submission(body: dict[str, Any]) -> tuple[str, list[str]]:
    """(text, keys) of a PUT's body; InputError / Refusal name the field."""
    content = text(body.get("body"), "body", max_length=BODY_MAX, strip=False) or ""
    keys = body.get("files", [])
    if keys is None:
        keys = []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise Refusal(400, "files must be a list of the keys your uploads were given", field="files")
    if len(keys) > MAX_FILES:
        raise Refusal(422, f"a submission holds at most {MAX_FILES} files", field="files")
    if len(set(keys)) != len(keys):
        raise Refusal(422, "the same file is listed twice", field="files")
    # The document's own test of "some text" (a character that is not \s), so what it calls
    # valid is never refused here.
    if not keys and _BLANK.fullmatch(content):
        raise Refusal(422, "send some text or at least one file", field="body")
    return content, keys


def record_submission(db: Session, user: User, activity: Activity, content: str, keys: list[str],
                      max_in_flight: int) -> Recorded:
    """Create or replace the student's submission (the caller commits and sends). Every key must
    be one of the student's own uploads for this activity (upload_key's layout); the check job
    decides whether the object behind it is acceptable."""
    for key in keys:
        parsed = parse_key(key)
        if parsed is None or parsed[:2] != (activity.id, user.id):
            # Someone else's upload, or none at all: as missing as anyone else's data.
            raise Refusal(404, f"{key[:200]!r} is not one of your uploads for this activity", field="files")
    now = utcnow()
    late = is_late(activity, now)
    insert_or_ignore(db, Submission, ["activity_id", "student_id"], activity_id=activity.id, student_id=user.id,
                     body=content, late=late, submitted_at=now, updated_at=now)
    # Locked on PostgreSQL: two resubmissions of one student take turns over its file rows.
    query = sa.select(Submission).where(Submission.activity_id == activity.id, Submission.student_id == user.id)
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    submission = db.scalars(query.execution_options(populate_existing=True)).one()
    submission.body, submission.late, submission.submitted_at, submission.updated_at = content, late, now, now
    existing = {f.key: f for f in files_of(db, [submission.id])[submission.id]}
    dropped = [f for k, f in existing.items() if k not in keys]
    if dropped:
        db.execute(sa.delete(SubmissionFile).where(SubmissionFile.id.in_([f.id for f in dropped])))
    # A verified file was claimed (kept from the lifecycle); dropped, the check job hands it back.
    # Pending and rejected ones still carry the unclaimed tag and expire with abandoned uploads.
    release = sorted(f.key for f in dropped if f.state == "verified")
    new = []
    for key in keys:
        if key in existing:
            continue
        filename = parse_key(key)[2]  # type: ignore[index]
        row = SubmissionFile(submission_id=submission.id, key=key, filename=filename,
                             content_type=file_type(filename).content_type, state="pending", created_at=now)
        db.add(row)
        new.append(row)
    db.flush()
    check = None
    if new or release:
        check = submit(db, SUBMISSION_CHECK, SubmissionCheckPayload(submission_id=submission.id, release=release),
                       user.id, max_in_flight)
    files = [existing[k] for k in keys if k in existing] + new
    return Recorded(submission, sorted(files, key=lambda f: f.id), check)


def file_json(row: SubmissionFile) -> dict[str, Any]:
    return {"id": row.id, "filename": row.filename, "content_type": row.content_type, "size": row.size,
            "checksum": row.checksum, "state": row.state, "error": row.error,
            "download_url": f"/api/submission-files/{row.id}/download" if row.state == "verified" else None}


def submission_json(submission: Submission, files: list[SubmissionFile]) -> dict[str, Any]:
    return {"id": submission.id, "activity_id": submission.activity_id, "student_id": submission.student_id,
            "state": "late" if submission.late else "submitted", "body": submission.body,
            "submitted_at": iso(submission.submitted_at), "files": [file_json(f) for f in files],
            "checked": all(f.state != "pending" for f in files)}


def teachers_activity(db: Session, user: User, activity_id: int) -> tuple[Activity, SchoolClass]:
    """An activity of a class `user` teaches (any status), else 404 for one they cannot see and
    403 for one they see but do not teach (a student's, an admin's)."""
    activity = db.get(Activity, activity_id)
    school_class = activity.school_class if activity is not None else None
    if school_class is None or school_class.institution_id != user.institution_id:
        raise Refusal(404, f"activity {activity_id} not found")
    if teaches(user, school_class):
        return activity, school_class
    if user.role == "admin" or db.scalar(visible_activities(user).where(Activity.id == activity_id)) is not None:
        raise Refusal(403, "only the class's teacher sees its submissions")
    raise Refusal(404, f"activity {activity_id} not found")


@dataclass(frozen=True)
class StudentRow:
    student: User
    submission: Submission | None
    files: list[SubmissionFile]

    @property
    def state(self) -> str:
        if self.submission is None:
            return "not_submitted"
        return "late" if self.submission.late else "submitted"


def roster_page(db: Session, school_class: SchoolClass, activity: Activity,
                request: PageRequest) -> tuple[Page[Any], list[StudentRow]]:
    """One page of the class's students (by name), each with their submission and its files."""
    statement = (class_students(school_class)
                 .outerjoin(Submission, sa.and_(Submission.student_id == User.id,
                                                Submission.activity_id == activity.id))
                 .add_columns(Submission))
    page = paginate(db, statement, request, scalars=False)
    files = files_of(db, [s.id for _, s in page.items if s is not None])
    rows = [StudentRow(u, s, files.get(s.id, []) if s is not None else []) for u, s in page.items]
    return page, rows


def student_row_json(row: StudentRow) -> dict[str, Any]:
    s = row.submission
    return {"student": {"id": row.student.id, "full_name": row.student.full_name, "email": row.student.email},
            "state": row.state, "submitted_at": iso(s.submitted_at) if s else None,
            "body": s.body if s else None, "files": [file_json(f) for f in row.files]}


def submission_counts(db: Session, activity: Activity) -> dict[str, int]:
    """How many of the class's students submitted, late or not, and how many did not."""
    enrolled = db.scalar(sa.select(sa.func.count()).select_from(Enrollment)
                         .where(Enrollment.class_id == activity.class_id)) or 0
    late_column = sa.func.sum(sa.case((Submission.late, 1), else_=0))
    total, late = db.execute(sa.select(sa.func.count(), late_column).select_from(Submission)
                             .join(Enrollment, sa.and_(Enrollment.student_id == Submission.student_id,
                                                       Enrollment.class_id == activity.class_id))
                             .where(Submission.activity_id == activity.id)).one()
    return {"enrolled": enrolled, "submitted": (total or 0) - (late or 0), "late": late or 0,
            "not_submitted": enrolled - (total or 0)}


def downloadable_file(db: Session, user: User, file_id: int) -> SubmissionFile:
    """A verified file for its class's teacher or its own student; anyone else's is a 404, and a
    file not (yet) accepted by the check a 409."""
    row = db.execute(sa.select(SubmissionFile, Submission, SchoolClass)
                     .join(Submission, Submission.id == SubmissionFile.submission_id)
                     .join(Activity, Activity.id == Submission.activity_id)
                     .join(SchoolClass, SchoolClass.id == Activity.class_id)
                     .where(SubmissionFile.id == file_id)).first()
    if row is None:
        raise Refusal(404, f"file {file_id} not found")
    file, submission, school_class = row
    if not (teaches(user, school_class) or (user.role == "student" and submission.student_id == user.id)):
        raise Refusal(404, f"file {file_id} not found")
    if file.state != "verified":
        raise Refusal(409, f"file {file_id} is {file.state}; only checked files can be downloaded", state=file.state)
    return file


def ask_for_zip(db: Session, user: User, activity_id: int, max_in_flight: int) -> Submitted:
    """The ZIP job of an activity's submissions (the same one while it is in progress)."""
    activity, _ = teachers_activity(db, user, activity_id)
    return submit(db, SUBMISSIONS_ZIP, SubmissionsZipPayload(activity_id=activity.id), user.id, max_in_flight)
