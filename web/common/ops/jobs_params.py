"""The console's jobs filter as people and clients write it: the query string of GET /api/ops/jobs
and /ops/jobs, and the `filter` object of POST /api/ops/bulk, turned into a
core.jobs.ops_jobs_filter.JobFilter (InputError naming the parameter at fault: a 400).

The names: state (a job state or `dead_lettered`), type (a declared job type), institution (an
id; operators only: an admin's is always their own), owner (a user id, or an exact email),
created_from / created_to and finished_from / finished_to (a date, or a date and time: with a
time zone, or without one read as UTC; a `to` date includes that whole day, a `to` time is the
exclusive end), error (text the error contains, case-insensitive), payload (repeatable,
`<key>=<value>`: the payload's field `key` equals the value, as text or as the number it spells),
sort (`newest`, the default, or `oldest`). An empty value is no filter, as the page's form sends.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.auth import normalize_email
from core.jobs.ops_jobs_filter import (
    ERROR_TEXT_MAX,
    FILTER_STATES,
    PAYLOAD_KEY,
    PAYLOAD_TERMS_MAX,
    PAYLOAD_VALUE_MAX,
    JobFilter,
    PayloadTerm,
)
from core.jobs.types import JOB_TYPES
from core.models import User
from core.parsing import MAX_ID, InputError
from web.common.ops.access import is_operator

SORTS = ("newest", "oldest")
OWNER_MAX = 254  # the longest email address
#: A real calendar date, years 0002 to 9998 (so an offset never leaves years 1 to 9999), with
#: an optional time and time zone. The OpenAPI part states the same pattern (a test compares).
DATE = (r"(?!0000|0001|9999)(?:[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
        r"|(?:0[13578]|1[02])-31)|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)")
TIME = r"[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?"
WHEN_PATTERN = f"^(?:{DATE}(?:{TIME})?)?$"  # empty: no bound (the form sends every field)
_WHEN = re.compile(WHEN_PATTERN)
FILTER_FIELDS = ("state", "type", "institution", "owner", "created_from", "created_to", "finished_from",
                 "finished_to", "error", "payload")


@dataclass(frozen=True)
class JobsQuery:
    """A parsed filter, its sort, and the values as given (for the page's form and links)."""

    filter: JobFilter
    newest_first: bool
    given: dict[str, str | list[str]]

    def link_args(self) -> dict[str, str | list[str]]:
        """The query arguments that rebuild this filter and sort (pagers, bulk links)."""
        args = dict(self.given)
        if not self.newest_first:
            args["sort"] = "oldest"
        return args


def _when(raw: str, field: str, end: bool) -> str:
    """An instant as JobFilter stores it: RFC 3339 in UTC. A date alone is its midnight, or for an
    end the next midnight (the whole day included)."""
    if len(raw) > 40 or not _WHEN.match(raw):
        raise InputError(field, f"{field} must be a date (2026-12-01) or a date and time (2026-12-01T10:30, "
                                "UTC unless it names its time zone)")
    text = raw.upper().replace(" ", "T")
    if "T" not in text:
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return (day + timedelta(days=1) if end else day).isoformat()
    value = datetime.fromisoformat(text)
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return value.astimezone(UTC).isoformat()


def _text(args: Mapping[str, object], name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InputError(name, f"{name} must be text")
    return value or None  # empty is no filter; anything else is read as given


def _owner(session: Session, viewer: User, raw: str) -> int:
    """The owner's id: a number is an id, anything else an exact email (normalised as the login does). An email
    no visible user has is 0, which matches no job: an admin cannot learn that an email exists in
    another institution."""
    if len(raw) > OWNER_MAX:
        raise InputError("owner", f"owner must be a user id or an email of at most {OWNER_MAX} characters")
    if raw.isascii() and raw.isdigit():
        number = int(raw)
        return number if 1 <= number <= MAX_ID else 0
    query = sa.select(User.id).where(User.email == normalize_email(raw))  # the unique index, as the login
    if not is_operator(viewer):
        query = query.where(User.institution_id == viewer.institution_id)
    return session.scalar(query.limit(1)) or 0


def _payload_terms(raw: Sequence[object]) -> list[PayloadTerm]:
    if len(raw) > PAYLOAD_TERMS_MAX:
        raise InputError("payload", f"at most {PAYLOAD_TERMS_MAX} payload filters")
    terms = []
    for item in raw:
        if not isinstance(item, str):
            raise InputError("payload", "payload filters are text: <key>=<value>")
        if not item:
            continue
        key, _, value = item.partition("=")
        if not re.fullmatch(PAYLOAD_KEY[1:-1], key, flags=re.ASCII) or not 1 <= len(value) <= PAYLOAD_VALUE_MAX:
            raise InputError("payload", "a payload filter is <key>=<value>: the key a simple name (letters, digits, "
                                        f"_), the value 1 to {PAYLOAD_VALUE_MAX} characters")
        terms.append(PayloadTerm(key=key, value=value))
    return terms


def parse_filter(session: Session, viewer: User, args: Mapping[str, object], payload: Sequence[object]) -> JobsQuery:
    """The filter in `args` (one value per name) and `payload` (the payload terms), for `viewer`."""
    given: dict[str, str | list[str]] = {}
    values: dict[str, object] = {}
    state = _text(args, "state")
    if state is not None:
        if state not in FILTER_STATES:
            raise InputError("state", f"state must be one of {', '.join(FILTER_STATES)}")
        values["state"] = given["state"] = state
    job_type = _text(args, "type")
    if job_type is not None:
        if job_type not in JOB_TYPES:
            raise InputError("type", f"type must be one of {', '.join(sorted(JOB_TYPES))}")
        values["type"] = given["type"] = job_type
    institution = _text(args, "institution")
    if institution is not None and not (institution.isascii() and institution.isdigit()
                                        and 1 <= int(institution) <= MAX_ID):
        raise InputError("institution", "institution must be an institution id")
    if not is_operator(viewer):
        values["institution_id"] = viewer.institution_id  # an admin's list is their institution's, always
    elif institution is not None:
        values["institution_id"] = int(institution)
        given["institution"] = institution
    owner = _text(args, "owner")
    if owner is not None:
        values["owner_id"] = _owner(session, viewer, owner)
        given["owner"] = owner
    for name, stored, end in (("created_from", "created_from", False), ("created_to", "created_until", True),
                              ("finished_from", "finished_from", False), ("finished_to", "finished_until", True)):
        raw = _text(args, name)
        if raw is not None:
            values[stored] = _when(raw, name, end)
            given[name] = raw
    error = _text(args, "error")
    if error is not None:
        if len(error) > ERROR_TEXT_MAX:
            raise InputError("error", f"error text is at most {ERROR_TEXT_MAX} characters")
        values["error"] = given["error"] = error
    terms = _payload_terms(payload)
    if terms:
        values["payload"] = terms
        given["payload"] = [f"{t.key}={t.value}" for t in terms]
    sort = _text(args, "sort") or "newest"
    if sort not in SORTS:
        raise InputError("sort", "sort must be newest or oldest")
    try:
        job_filter = JobFilter(**values)
    except ValidationError as exc:  # every value was checked above; this is the model agreeing
        raise InputError("filter", str(exc.errors(include_url=False)[0]["msg"])) from None
    return JobsQuery(job_filter, sort == "newest", given)


def from_query_string(session: Session, viewer: User, args: Mapping[str, str]) -> JobsQuery:
    """The filter of a request's query string (werkzeug's MultiDict: `payload` may repeat)."""
    getlist = getattr(args, "getlist", None)
    payload = getlist("payload") if getlist else ([args["payload"]] if "payload" in args else [])
    return parse_filter(session, viewer, args, payload)


def from_json(session: Session, viewer: User, body: object) -> JobsQuery:
    """The filter of a JSON body's `filter` object (the same names; `payload` a list of terms)."""
    if not isinstance(body, Mapping):
        raise InputError("filter", "filter must be an object of the jobs list's filters")
    unknown = sorted(key for key in body if key not in FILTER_FIELDS)
    if unknown:
        raise InputError("filter", f"unknown filter {unknown[0]!r} (known: {', '.join(FILTER_FIELDS)})")
    payload = body.get("payload", [])
    if not isinstance(payload, list):
        raise InputError("payload", "payload must be a list of <key>=<value> terms")
    return parse_filter(session, viewer, body, payload)
