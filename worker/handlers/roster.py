"""Roster imports on the worker tier (issue 13, item 8).

- `roster_import`: reads the stored CSV again (core/roster.py judges every row), matches each
  row to an account (by external_id within the institution, else by email), creates the
  missing student accounts without a password, enrols everyone in the class, and makes one
  invitation per new account with `invitation_chunk` jobs to email them. Lookups and writes are
  bulk statements over chunks of CHUNK rows, all in the job's one transaction: a crash or retry
  leaves nothing half done, and the same file imported again finds every account (matched) and
  every enrollment (already enrolled), so it changes nothing. A dry run makes the same report
  and writes nothing. The result holds the counts and up to LISTED_ROWS rows (skipped first);
  the whole report is a CSV in S3 (the job's download).
- `invitation_chunk`: each invitation's link, once (effect key `invitation:<id>`), through
  worker/notify_mail.py's recording rules; a used or expired invitation is not sent.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core import invitations
from core.db import utcnow
from core.jobs.outbox import new_jobs
from core.jobs.types import (
    EMAIL_CHUNK_SIZE,
    INVITATION_CHUNK,
    ROSTER_IMPORT,
    InvitationChunkPayload,
    RosterImportPayload,
)
from core.models import Enrollment, Institution, Invitation, SchoolClass, User
from core.roster import MAX_BYTES, RosterFileError, RosterRow, may_import, parse_roster, report_key
from worker.context import JobContext
from worker.errors import PermanentJobError
from worker.handlers import handles
from worker.notify_mail import Sending

CHUNK = 500
LISTED_ROWS = 200
OUTCOMES = ("created", "enrolled", "matched", "skipped")
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _insert(session: Session, model: type) -> Any:
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(model)


@dataclass
class Outcome:
    row: RosterRow
    outcome: str = "skipped"
    reason: str | None = None
    user_id: int | None = None
    how: str | None = None  # matched by external_id or email
    link_external_id: bool = False  # the matched account gets the row's external_id
    never_logged_in: bool = False  # a matched account still without a password of its own

    def json(self) -> dict[str, Any]:
        return {"line": self.row.line, "name": self.row.name, "email": self.row.email,
                "external_id": self.row.external_id, "outcome": self.outcome, "reason": self.reason,
                "user_id": self.user_id, "matched_by": self.how}


@dataclass
class _Known:
    by_external_id: dict[str, User] = field(default_factory=dict)
    by_email: dict[str, User] = field(default_factory=dict)
    enrolled: set[int] = field(default_factory=set)


def _known(session: Session, school_class: SchoolClass, rows: Sequence[RosterRow]) -> _Known:
    known = _Known()
    external_ids = [r.external_id for r in rows if r.external_id]
    for chunk in _chunks(external_ids):
        for user in session.scalars(sa.select(User).where(User.institution_id == school_class.institution_id,
                                                          User.external_id.in_(chunk))):
            known.by_external_id[user.external_id] = user  # type: ignore[index]
    for chunk in _chunks([r.email for r in rows]):
        for user in session.scalars(sa.select(User).where(User.email.in_(chunk))):
            known.by_email[user.email] = user
    known.enrolled = set(session.scalars(sa.select(Enrollment.student_id)
                                         .where(Enrollment.class_id == school_class.id)))
    return known


def _decide(row: RosterRow, school_class: SchoolClass, known: _Known, taken: dict[int, int]) -> Outcome:
    """What the import does with one valid row (nothing written yet)."""
    user, how = None, None
    if row.external_id and row.external_id in known.by_external_id:
        user, how = known.by_external_id[row.external_id], "external_id"
    elif row.email in known.by_email:
        user, how = known.by_email[row.email], "email"
        if user.institution_id != school_class.institution_id:
            return Outcome(row, reason="the email belongs to an account of another institution")
        if row.external_id and user.external_id and user.external_id != row.external_id:
            return Outcome(row, reason=f"the email's account has another external_id ({user.external_id})")
    if user is None:
        return Outcome(row, "created", how=None)
    if user.role != "student":
        return Outcome(row, reason=f"the account is a{'n' if user.role[0] in 'aeiou' else ''} {user.role}'s, "
                                   "not a student's")
    if user.id in taken:
        return Outcome(row, reason=f"the same account as line {taken[user.id]}")
    taken[user.id] = row.line
    outcome = "matched" if user.id in known.enrolled else "enrolled"
    link = bool(row.external_id and not user.external_id)
    return Outcome(row, outcome, user_id=user.id, how=how, link_external_id=link,
                   never_logged_in=user.password_hash == invitations.NO_PASSWORD)


def plan(session: Session, school_class: SchoolClass, rows: Sequence[RosterRow]) -> list[Outcome]:
    valid = [r for r in rows if r.problem is None]
    known = _known(session, school_class, valid)
    taken: dict[int, int] = {}
    return [Outcome(r, reason=r.problem) if r.problem else _decide(r, school_class, known, taken) for r in rows]


def _create_accounts(session: Session, school_class: SchoolClass, new: Sequence[Outcome]) -> None:
    """Insert the new accounts (no usable password); one that another import created meanwhile
    (the INSERT skipped it) is matched instead, if it may be."""
    now = utcnow()
    for chunk in _chunks(new):
        values = [{"institution_id": school_class.institution_id, "email": o.row.email, "full_name": o.row.name,
                   "role": "student", "password_hash": invitations.NO_PASSWORD, "created_at": now,
                   "external_id": o.row.external_id} for o in chunk]
        statement = _insert(session, User).values(values).on_conflict_do_nothing().returning(User.id, User.email)
        ids = {email: user_id for user_id, email in session.execute(statement)}
        late = [o for o in chunk if o.row.email not in ids]
        for o in chunk:
            o.user_id = ids.get(o.row.email)
        if late:
            found = {u.email: u for u in session.scalars(sa.select(User).where(User.email.in_([o.row.email
                                                                                               for o in late])))}
            for o in late:
                user = found.get(o.row.email)
                if user is None or user.institution_id != school_class.institution_id or user.role != "student":
                    o.outcome, o.reason = "skipped", "an account with this email or external_id was made meanwhile"
                else:
                    o.outcome, o.user_id, o.how = "enrolled", user.id, "email"


def _apply(session: Session, school_class: SchoolClass, outcomes: Sequence[Outcome], ctx: JobContext,
           secret_key: str) -> list[int]:
    """Write the plan; the new invitations' ids."""
    new = [o for o in outcomes if o.outcome == "created"]
    _create_accounts(session, school_class, new)
    ctx.progress(50)
    for o in outcomes:
        if o.link_external_id and o.outcome in ("enrolled", "matched"):
            session.execute(sa.update(User).where(User.id == o.user_id, User.external_id.is_(None))
                            .values(external_id=o.row.external_id).execution_options(synchronize_session=False))
    to_enrol = [o.user_id for o in outcomes if o.outcome in ("created", "enrolled") and o.user_id is not None]
    now = utcnow()
    for chunk in _chunks(to_enrol):
        session.execute(_insert(session, Enrollment)
                        .values([{"class_id": school_class.id, "student_id": user_id, "enrolled_at": now}
                                 for user_id in chunk])
                        .on_conflict_do_nothing(index_elements=["class_id", "student_id"]))
    ctx.progress(70)
    invited: list[int] = []
    created = [o.user_id for o in new if o.outcome == "created" and o.user_id is not None]
    for chunk in _chunks(created + _to_invite_again(session, outcomes, now)):
        statement = (sa.insert(Invitation).values([invitations.new_invitation(user_id, secret_key, now)
                                                   for user_id in chunk]).returning(Invitation.id))
        invited += list(session.scalars(statement))
    return invited


def _to_invite_again(session: Session, outcomes: Sequence[Outcome], now: Any) -> list[int]:
    """Matched accounts that never set a password and hold no open invitation (theirs expired):
    importing them again is how a teacher sends a new link. One with an open invitation gets
    none, so importing a file twice emails nobody twice."""
    waiting = [o.user_id for o in outcomes if o.never_logged_in and o.user_id is not None
               and o.outcome in ("enrolled", "matched")]
    open_ = set()
    for chunk in _chunks(waiting):
        open_ |= set(session.scalars(sa.select(Invitation.user_id).where(
            Invitation.user_id.in_(chunk), Invitation.used_at.is_(None), Invitation.expires_at > now)))
    return [user_id for user_id in waiting if user_id not in open_]


def _report_csv(outcomes: Iterable[Outcome]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "name", "email", "external_id", "outcome", "reason", "user_id"])
    for o in outcomes:
        # A spreadsheet runs a cell starting with = + - @ as a formula: quote it as text.
        cells = [o.row.line, o.row.name, o.row.email, o.row.external_id or "", o.outcome, o.reason or "",
                 o.user_id or ""]
        writer.writerow(["'" + c if isinstance(c, str) and c[:1] in ("=", "+", "-", "@") else c for c in cells])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _result(outcomes: Sequence[Outcome], dry_run: bool, invited: int) -> dict[str, Any]:
    counts = {name: 0 for name in OUTCOMES}
    for o in outcomes:
        counts[o.outcome] += 1
    listed = sorted(outcomes, key=lambda o: (o.outcome != "skipped", o.row.line))[:LISTED_ROWS]
    return {"dry_run": dry_run, "total": len(outcomes), "counts": counts, "invited": invited,
            "rows": [o.json() for o in listed], "rows_listed": len(listed)}


@handles(ROSTER_IMPORT)
def import_roster(ctx: JobContext, payload: RosterImportPayload) -> dict[str, Any]:
    session, storage = ctx.session, ctx.services.storage
    school_class = session.get(SchoolClass, payload.class_id)
    if school_class is None:
        raise PermanentJobError(f"class {payload.class_id} no longer exists")
    owner = session.get(User, ctx.job.owner_id) if ctx.job.owner_id else None
    if owner is None or not may_import(owner.role, owner.id, owner.institution_id, school_class.teacher_id,
                                       school_class.institution_id):
        raise PermanentJobError("the job's owner may not import into this class")
    if not payload.key.startswith(f"roster-imports/{school_class.id}/"):
        raise PermanentJobError("the file is not an upload for this class")
    head = storage.head(payload.key)
    if head is None:
        raise PermanentJobError("the uploaded file is gone")
    if head["ContentLength"] > MAX_BYTES:
        raise PermanentJobError(f"the file is larger than {MAX_BYTES} bytes")
    try:
        rows = parse_roster(storage.get(payload.key))
    except RosterFileError as exc:
        raise PermanentJobError(exc.message) from None
    ctx.progress(10)
    outcomes = plan(session, school_class, rows)
    ctx.progress(30)
    invited: list[int] = []
    if not payload.dry_run:
        invited = _apply(session, school_class, outcomes, ctx, ctx.services.settings.secret_key)
        new_jobs(session, [{"type": INVITATION_CHUNK, "owner_id": owner.id, "parent_id": ctx.job.id,
                            "payload": InvitationChunkPayload(class_id=school_class.id, invitation_ids=list(chunk))}
                           for chunk in _chunks(invited, EMAIL_CHUNK_SIZE)])
    ctx.progress(90)
    key = report_key(ctx.job.id)
    storage.put(key, _report_csv(outcomes), "text/csv; charset=utf-8")
    filename = f"roster-{school_class.code}-{'dry-run' if payload.dry_run else 'import'}.csv"
    return {**_result(outcomes, payload.dry_run, len(invited)), "file_key": key, "filename": filename}


@handles(INVITATION_CHUNK)
def send_invitations(ctx: JobContext, payload: InvitationChunkPayload) -> dict[str, Any]:
    session, settings = ctx.session, ctx.services.settings
    found = {inv.id: (inv, user) for inv, user in session.execute(
        sa.select(Invitation, User).join(User, User.id == Invitation.user_id)
        .where(Invitation.id.in_(payload.invitation_ids)))}
    school_class = session.get(SchoolClass, payload.class_id) if payload.class_id else None
    shown_class = {"code": school_class.code, "name": school_class.name} if school_class else None
    names: dict[int | None, str] = {}
    sending = Sending(ctx, total=len(payload.invitation_ids))
    now = utcnow()
    with sending.recording():
        for invitation_id in payload.invitation_ids:
            pair = found.get(invitation_id)
            if pair is None or pair[0].used_at is not None or pair[0].expires_at <= now:
                sending.done_one()  # gone with its account, already used, or too late to be of use
                continue
            invitation, user = pair
            key = f"invitation:{invitation.id}"
            token = invitations.link_token(settings.secret_key, invitation)
            if token is None:
                sending.refuse(user.id, key, "the app's secret key changed since the invitation was made; "
                                             "import the student again for a new one")
                continue
            if user.institution_id not in names:
                institution = session.get(Institution, user.institution_id)
                names[user.institution_id] = institution.name if institution else "your school"
            context = {"student": {"id": user.id, "name": user.full_name, "email": user.email},
                       "institution": names[user.institution_id], "school_class": shown_class,
                       "link": f"{settings.public_base_url}{invitations.PATH}{token}",
                       "expires": invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")}
            sending.send(key, user.id, user.email, "invitation", context, detail={"invitation_id": invitation.id})
    return sending.result()
