"""The operations console's filter over the jobs table (issue 11), written once for the three
places that apply it: the console's list (web/common/ops/jobs_list.py), the bulk action's count
(web/common/ops/jobs_bulk.py) and the `ops_bulk` job that walks the matching rows
(worker/handlers/ops_bulk.py). The web tier and the worker never import each other, so it lives
here, and it is a payload model: the bulk job stores the filter it was asked for, validated.

Every filter has an index to start from (migrations 0006/0007): state and type lead
ix_jobs_state_created / ix_jobs_type_created, dead-lettered is the partial ix_jobs_dead_lettered,
owner is ix_jobs_owner_created, and everything else walks ix_jobs_created in (created_at, id)
order. Two filters have no index of their own, error text and payload fields: they only narrow
what an index walk reads, and the console's reads run under a statement timeout on PostgreSQL
(web/common/ops/jobs_guard.py) that turns a walk over too many rows into "narrow your filter".
A finished-before bound also bounds created_at (a job is created before it finishes), so it
narrows the index walk instead of filtering a million rows.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import Field, field_validator

from core.jobs.contract import Payload
from core.models import Job, User
from core.models.jobs import DEAD_LETTERED, JOB_STATES

#: The states the list filters by: the six job states, and the jobs whose message is in the DLQ.
FILTER_STATES = (*JOB_STATES, "dead_lettered")
#: Payload keys: simple names only (they become a JSON path on SQLite, a JSON key on PostgreSQL).
PAYLOAD_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
PAYLOAD_VALUE_MAX = 200
PAYLOAD_TERMS_MAX = 3
ERROR_TEXT_MAX = 200
INTEGER_TEXT = r"-?[0-9]{1,15}"


class PayloadTerm(Payload):
    """`payload.<key> == <value>`: the value as given (text), or the number it spells."""

    key: str = Field(pattern=PAYLOAD_KEY)
    value: str = Field(min_length=1, max_length=PAYLOAD_VALUE_MAX)


class JobFilter(Payload):
    """What the console's jobs list shows, and what a bulk action acts on. Times are RFC 3339
    in UTC; `*_from` is inclusive, `*_until` exclusive (a date given as a day has been turned
    into the next midnight by the parser). `owner_id` 0 matches nobody (an email no user has).
    Scope (an admin's institution) is not part of it: the reader adds it (jobs_in_scope)."""

    state: Literal[FILTER_STATES] | None = None  # type: ignore[valid-type]
    type: str | None = Field(default=None, max_length=64)
    institution_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    owner_id: int | None = Field(default=None, ge=0, le=2_147_483_647)
    created_from: str | None = None
    created_until: str | None = None
    finished_from: str | None = None
    finished_until: str | None = None
    error: str | None = Field(default=None, min_length=1, max_length=ERROR_TEXT_MAX)
    payload: list[PayloadTerm] = Field(default_factory=list, max_length=PAYLOAD_TERMS_MAX)

    @field_validator("created_from", "created_until", "finished_from", "finished_until")
    @classmethod
    def _utc_time(cls, value: str | None) -> str | None:
        if value is not None:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError("a time needs its time zone")
        return value

    @property
    def only_state_or_type(self) -> bool:
        """Counted exactly by the job_counts counters (no other filter, no dead-lettered pseudo-state)."""
        return self.state != "dead_lettered" and self == JobFilter(state=self.state, type=self.type)

    def summary(self) -> dict[str, object]:
        """The filter as the audit log and the bulk job's page show it: only what is set."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def conditions(self, dialect: str) -> list[sa.ColumnElement[bool]]:
        """The WHERE terms of this filter on `jobs`, for `dialect` ("postgresql" or "sqlite")."""
        where: list[sa.ColumnElement[bool]] = []
        if self.state == "dead_lettered":
            # Word for word the partial index's condition (core/models/jobs.py explains why).
            where.append(sa.text(DEAD_LETTERED))
        elif self.state is not None:
            where.append(Job.state == self.state)
        if self.type is not None:
            where.append(Job.type == self.type)
        if self.owner_id is not None:
            where.append(Job.owner_id == self.owner_id)
        if self.institution_id is not None:
            where.append(Job.owner_id.in_(
                sa.select(User.id).where(User.institution_id == self.institution_id).scalar_subquery()))
        if self.created_from is not None:
            where.append(Job.created_at >= _time(self.created_from))
        if self.created_until is not None:
            where.append(Job.created_at < _time(self.created_until))
        if self.finished_from is not None:
            where.append(Job.finished_at >= _time(self.finished_from))
        if self.finished_until is not None:
            until = _time(self.finished_until)
            where += [Job.finished_at < until, Job.created_at < until]
        if self.error is not None:
            where.append(Job.error.icontains(self.error, autoescape=True))
        where += [_payload_term(term, dialect) for term in self.payload]
        return where


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _payload_term(term: PayloadTerm, dialect: str) -> sa.ColumnElement[bool]:
    """The payload has `key` equal to the value, as text or, when it spells one, as a number
    (ids are numbers in payloads: `class_id=42` finds {"class_id": 42})."""
    values: list[object] = [term.value]
    if re.fullmatch(INTEGER_TEXT, term.value):
        values.append(int(term.value))
    if dialect == "postgresql":
        # jsonb containment; the JSON is built here from a checked key and bound as one parameter.
        return sa.or_(*(sa.text(f"jobs.payload @> CAST(:{name} AS jsonb)").bindparams(
            **{name: json.dumps({term.key: value})})
            for value, name in zip(values, _names(term), strict=False)))
    extracted = sa.func.json_extract(Job.payload, f"$.{term.key}")
    return sa.or_(*(sa.and_(sa.func.json_type(Job.payload, f"$.{term.key}") == ("text" if isinstance(value, str)
                                                                                   else "integer"),
                            extracted == value) for value in values))


def _names(term: PayloadTerm) -> list[str]:
    # Each term's parameters get their own names, so two terms in one statement do not collide.
    tag = hashlib.blake2b(f"{term.key}={term.value}".encode(), digest_size=4).hexdigest()
    return [f"payload_text_{tag}", f"payload_number_{tag}"]
