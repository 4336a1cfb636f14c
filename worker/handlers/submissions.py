"""Submitted work on the worker tier:

- `submission_check`: reads each pending file of a submission from S3 and judges it by the
  rules of core/submissions.py (size, the type its content actually is, a SHA-256), marking the
  row verified or rejected with the reason. Each verdict is one UPDATE of a row still pending,
  so a redelivered job, or one racing a resubmission that dropped the file, changes nothing
  twice and never fails on a row that is gone.
  First it hands back the files a resubmission dropped (`release`), see release_dropped.
- `submissions_zip`: every submission of an activity (texts and verified files, with an
  index.csv) as one ZIP, written to a temporary file entry by entry and uploaded from disk, so
  no file is ever held in memory whole.
"""
from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import zipfile
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.jobs.types import SUBMISSION_CHECK, SUBMISSIONS_ZIP, SubmissionCheckPayload, SubmissionsZipPayload
from core.models import Activity, Submission, SubmissionFile, User
from core.storage import S3Storage
from core.submissions import ContentCheck, FileRefused, file_type, parse_key, safe_filename
from worker.context import JobContext
from worker.effects import record_effect
from worker.errors import PermanentJobError
from worker.handlers import handles


@dataclass(frozen=True)
class Verdict:
    state: str  # verified or rejected
    size: int | None = None
    checksum: str | None = None
    error: str | None = None


def check_file(storage: S3Storage, row: SubmissionFile, owner: tuple[int, int], max_bytes: int) -> Verdict:
    """What arrived at the file's key, judged again from its bytes."""
    parsed = parse_key(row.key)
    if parsed is None or parsed[:2] != owner:
        return Verdict("rejected", error="the file is not one of this submission's uploads")
    try:
        kind = file_type(row.filename)
    except FileRefused as exc:
        return Verdict("rejected", error=exc.message)
    head = storage.head(row.key)
    if head is None:
        return Verdict("rejected", error="nothing was uploaded for this file")
    if head["ContentLength"] > max_bytes:
        return Verdict("rejected", size=head["ContentLength"], error=f"the file is larger than {max_bytes} bytes")
    declared = (head.get("ContentType") or "").split(";")[0].strip().lower()
    if declared != kind.content_type:
        return Verdict("rejected", size=head["ContentLength"],
                       error=f"it was uploaded as {declared or 'no type'}, not {kind.content_type}")
    digest, content = hashlib.sha256(), ContentCheck(kind)
    for chunk in storage.stream(row.key):
        content.feed(chunk)
        digest.update(chunk)
        if content.size > max_bytes:  # replaced since the HEAD: stop reading
            return Verdict("rejected", size=content.size, error=f"the file is larger than {max_bytes} bytes")
    problem = content.problem()
    if problem is not None:
        return Verdict("rejected", size=content.size, checksum=digest.hexdigest(), error=problem)
    return Verdict("verified", size=content.size, checksum=digest.hexdigest())


def _held(db: Session, key: str) -> bool:
    return db.scalar(sa.select(sa.exists().where(SubmissionFile.key == key))) is True


def release_dropped(db: Session, storage: S3Storage, keys: list[str]) -> int:
    """Tag each dropped verified file unclaimed again, unless a submission holds it again (the
    student handed the same upload back in). Read, tag, read again: a resubmission that commits
    after the second read enqueues its own check, whose claim comes after this tag, so a file
    handed in is never left to expire (on PostgreSQL, whose reads see each commit; SQLite's
    snapshot, the local stack's, does not see one made between the two). Returns how many
    were released."""
    released = 0
    for key in keys:
        if _held(db, key) or not storage.unclaim(key):
            continue
        if _held(db, key):
            storage.claim(key)
            continue
        released += 1
    return released


@handles(SUBMISSION_CHECK)
def check_submission(ctx: JobContext, payload: SubmissionCheckPayload) -> dict[str, Any]:
    db = ctx.session
    released = release_dropped(db, ctx.services.storage, payload.release) if payload.release else 0
    submission = db.get(Submission, payload.submission_id)
    if submission is None:  # deleted with its activity: nothing to check
        return {"verified": 0, "rejected": 0, "released": released, "gone": True}
    pending = db.scalars(sa.select(SubmissionFile).where(SubmissionFile.submission_id == submission.id,
                                                         SubmissionFile.state == "pending")
                         .order_by(SubmissionFile.id)).all()
    owner = (submission.activity_id, submission.student_id)
    max_bytes = ctx.services.settings.submission_max_bytes
    counts = {"verified": 0, "rejected": 0, "released": released}
    for done, row in enumerate(pending, start=1):
        # Read before any write of this run: on SQLite a progress point after one is skipped.
        verdict = check_file(ctx.services.storage, row, owner, max_bytes)
        updated = db.execute(
            sa.update(SubmissionFile)
            .where(SubmissionFile.id == row.id, SubmissionFile.state == "pending")
            .values(state=verdict.state, size=verdict.size, checksum=verdict.checksum, error=verdict.error)
            .execution_options(synchronize_session=False)
        ).rowcount
        if updated:
            counts[verdict.state] += 1
            if verdict.state == "verified":
                # Handed in and checked: no longer an abandoned upload for the lifecycle rule. A
                # rejected file keeps the tag and expires with the abandoned ones.
                ctx.services.storage.claim(row.key)
        ctx.progress(done * 100 // len(pending))
    return counts


ZIP_CONTENT_TYPE = "application/zip"
INDEX_COLUMNS = ("student_id", "name", "email", "state", "submitted_at", "file", "file_state", "size", "sha256",
                 "error")


def _submissions(db: Session, activity_id: int) -> list[tuple[Submission, User]]:
    rows = db.execute(sa.select(Submission, User).join(User, User.id == Submission.student_id)
                      .where(Submission.activity_id == activity_id).order_by(User.full_name, User.id)).all()
    return [(s, u) for s, u in rows]


def _files(db: Session, submission_ids: list[int]) -> dict[int, list[SubmissionFile]]:
    files: dict[int, list[SubmissionFile]] = {i: [] for i in submission_ids}
    for start in range(0, len(submission_ids), 500):
        chunk = submission_ids[start:start + 500]
        for row in db.scalars(sa.select(SubmissionFile).where(SubmissionFile.submission_id.in_(chunk))
                              .order_by(SubmissionFile.id)):
            files[row.submission_id].append(row)
    return files


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}"
    taken.add(candidate)
    return candidate


@handles(SUBMISSIONS_ZIP)
def build_submissions_zip(ctx: JobContext, payload: SubmissionsZipPayload) -> dict[str, Any]:
    db = ctx.session
    activity = db.get(Activity, payload.activity_id)
    if activity is None:
        raise PermanentJobError(f"activity {payload.activity_id} no longer exists")
    ctx.progress(2)
    submissions = _submissions(db, activity.id)
    files = _files(db, [s.id for s, _ in submissions])
    index = io.StringIO()
    writer = csv.writer(index)
    writer.writerow(INDEX_COLUMNS)
    stored = 0
    filename = f"submissions-activity-{activity.id}.zip"
    with tempfile.NamedTemporaryFile(suffix=".zip") as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            for done, (submission, student) in enumerate(submissions, start=1):
                folder = f"{safe_filename(student.full_name)}-{student.id}"
                taken: set[str] = set()
                state = "late" if submission.late else "submitted"
                when = submission.submitted_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                if submission.body:
                    archive.writestr(f"{folder}/{_unique('submission.txt', taken)}", submission.body)
                for row in files[submission.id]:
                    writer.writerow((student.id, student.full_name, student.email, state, when, row.filename,
                                     row.state, row.size, row.checksum, row.error))
                    if row.state != "verified":
                        continue  # only what the check accepted goes out to the teacher
                    entry = f"{folder}/{_unique(row.filename, taken)}"
                    with archive.open(entry, "w", force_zip64=True) as out:
                        for chunk in ctx.services.storage.stream(row.key):
                            out.write(chunk)
                    stored += 1
                if not files[submission.id]:
                    writer.writerow((student.id, student.full_name, student.email, state, when, "", "", "", "", ""))
                ctx.progress(2 + done * 88 // len(submissions))
            archive.writestr("index.csv", index.getvalue())
        spool.flush()
        # One object per job at a deterministic key: a redelivered job overwrites its own file.
        key = f"submission-zips/{ctx.job.id}/{filename}"
        ctx.services.storage.upload_file(spool.name, key, ZIP_CONTENT_TYPE)
    ctx.progress(95)
    record_effect(db, f"submissions_zip:{ctx.job.id}", ctx.job.id, {"file_key": key, "files": stored})
    return {"file_key": key, "filename": filename, "content_type": ZIP_CONTENT_TYPE, "activity_id": activity.id,
            "submissions": len(submissions), "files": stored}
