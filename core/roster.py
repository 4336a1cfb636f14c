"""A roster CSV (issue 13, item 8): its limits, parsing and the rules for each row, shared by the
web tier (which refuses a file it cannot read before storing it) and the worker (which judges
every row again from the stored bytes, since the file in S3 is what it imports).

The file: a header row naming `name` and `email` (and optionally `external_id`, in any order,
any case; other columns are ignored), UTF-8 with or without a BOM, at most MAX_BYTES and
MAX_ROWS data rows. A row's problems are reasons, not exceptions: the import skips that row and
says why, and the others go on.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

# The app refuses request bodies over core.app.MAX_REQUEST_BYTES (1 MiB); a CSV must fit in one
# with the multipart framing around it. 10,000 rows of a name and an email are ~600 kB.
MAX_BYTES = 1_000_000
MAX_ROWS = 10_000
MAX_NAME = 200  # users.full_name
MAX_EMAIL = 254  # users.email
COLUMNS = ("name", "email", "external_id")
REQUIRED = ("name", "email")
# A school system's id: letters, digits and . _ - (no spaces, nothing that needs quoting).
EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# One @, a dot in the domain, no spaces or angle brackets: what a mailbox address needs here,
# not RFC 5322's whole grammar (SES refuses whatever slips through, and the report says so).
EMAIL = re.compile(r"[^@\s<>,;\"'\x00-\x1f\x7f]+@[^@\s<>,;\"'\x00-\x1f\x7f]+\.[^@\s<>,;\"'.\x00-\x1f\x7f]+")


class RosterFileError(Exception):
    """The file as a whole cannot be read: the HTTP status (413 too large, 422 otherwise) and why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RosterRow:
    line: int  # the file's line number of the row (the header is line 1)
    name: str
    email: str  # normalised: stripped, lower case
    external_id: str | None
    problem: str | None = None  # why the row cannot be imported, if it cannot


def _text(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise RosterFileError(413, f"the file is larger than {MAX_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterFileError(422, f"the file is not UTF-8 text (byte {exc.start})") from None


def _header(fields: list[str]) -> dict[str, int]:
    names = [f.strip().lower().lstrip("\ufeff") for f in fields]
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in COLUMNS:
            if name in positions:
                raise RosterFileError(422, f"the header names the column {name!r} twice")
            positions[name] = position
    missing = [c for c in REQUIRED if c not in positions]
    if missing:
        raise RosterFileError(422, "the first line must be a header naming the columns name and email "
                                   f"(and optionally external_id); missing: {', '.join(missing)}")
    return positions


def row_problem(name: str, email: str, external_id: str | None) -> str | None:
    """Why a row's values cannot make an account, if they cannot."""
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME:
        return f"the name is longer than {MAX_NAME} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "the name has control characters"
    if not email:
        return "the email is empty"
    if len(email) > MAX_EMAIL or not EMAIL.fullmatch(email):
        return f"{email[:80]!r} is not an email address"
    if external_id is not None and not EXTERNAL_ID.fullmatch(external_id):
        return "the external_id must be 1 to 100 letters, digits, '.', '_' or '-' (starting with a letter or digit)"
    return None


def parse_roster(data: bytes) -> list[RosterRow]:
    """Every data row of the file, each with its problem if it has one (duplicates of an earlier
    row's email or external_id included). Raises RosterFileError for a file it cannot read."""
    text = _text(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise RosterFileError(422, "the file is empty: it needs a header row (name,email[,external_id])")
        positions = _header(header)
        rows: list[RosterRow] = []
        emails: dict[str, int] = {}
        external_ids: dict[str, int] = {}
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue  # a blank line
            if len(rows) >= MAX_ROWS:
                raise RosterFileError(422, f"the file has more than {MAX_ROWS} rows; split it")
            line = reader.line_num

            def value(column: str, fields: list[str] = fields) -> str:
                position = positions.get(column)
                return fields[position].strip() if position is not None and position < len(fields) else ""

            name, email = " ".join(value("name").split()), value("email").lower()
            external_id = value("external_id") or None
            problem = row_problem(name, email, external_id)
            if problem is None and email in emails:
                problem = f"the email is also on line {emails[email]}"
            if problem is None and external_id is not None and external_id in external_ids:
                problem = f"the external_id is also on line {external_ids[external_id]}"
            if problem is None:
                emails[email] = line
                if external_id is not None:
                    external_ids[external_id] = line
            rows.append(RosterRow(line, name[:MAX_NAME], email[:MAX_EMAIL], external_id and external_id[:100], problem))
    except csv.Error as exc:
        raise RosterFileError(422, f"the file is not valid CSV (line {reader.line_num}): {exc}") from None
    return rows


def may_import(user_role: str, user_id: int, user_institution_id: int | None, class_teacher_id: int,
               class_institution_id: int) -> bool:
    """Who may import into a class: its teacher, or an admin of its institution (checked by the
    web tier when asked and by the job again when it runs)."""
    if user_institution_id != class_institution_id:
        return False
    return (user_role == "teacher" and class_teacher_id == user_id) or user_role == "admin"


def report_key(job_id: object) -> str:
    return f"roster-imports/reports/{job_id}.csv"
