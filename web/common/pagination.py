"""Pagination and filtering in SQL: a list never loads more rows than the page it shows, and
never reads more than it shows however long the list grows. Reads the query string of the API
and the pages alike (PageParamError names the parameter at fault).

Two ways to a page (docs/scale.md):

- `?page=N` (from 1): OFFSET, the way every client asked until now. It reads the N-1 pages
  before it, so page 5,000 of a million jobs costs what 5,000 pages do.
- `?after=<cursor>` / `?before=<cursor>`, for the lists that declare their order (a `Keyset`:
  a user's jobs, the inbox): the page right after or before a row, found by the index that
  gives the list its order, so every page costs what the first does. Each page of such a list
  hands out `next` and `previous` cursors. A cursor carries the sort key of one row and the
  number of the page it leads to; it is not a secret, and any value only moves the position
  within the caller's own list, whose scoping is in the statement. Every text that matches a
  list's cursor pattern is read (the API documents the pattern), anything else is a 400.

The total is counted up to COUNT_CAP: past it the answer says "at least" (`total_exact` false)
instead of counting a million rows for every page, and whether there is a next page comes from
reading one row more than the page, not from the total.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models.jobs import JOB_STATES
from core.parsing import MAX_ID, InputError, int_param

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
DEFAULT_SIZE = 20
MAX_SIZE = 100
MAX_PAGE = 1_000_000
SEARCH_MAX = 100  # characters of a search term
# A list's total is counted up to this many rows; a longer list says "1,000+". As many as a
# first page costs to count on the indexes a list is read by (issue 10, P5: about 0.3 ms on
# PostgreSQL), and more than any person pages through.
COUNT_CAP = 1000
CURSOR_MAX = 100  # characters: a cursor is a page number and a few sort-key values


class PageParamError(InputError):
    """A bad page, size, cursor or filter; `field` names it."""


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    size: int = DEFAULT_SIZE
    after: str | None = None
    before: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> PageRequest:
        def number(name: str, default: int, high: int) -> int:
            try:
                return int_param(args.get(name), name, 1, high, default)
            except InputError as exc:
                raise PageParamError(exc.field, exc.message) from None

        return cls(page=number("page", 1, MAX_PAGE), size=number("size", DEFAULT_SIZE, MAX_SIZE),
                   after=_cursor_arg(args, "after"), before=_cursor_arg(args, "before"))


def _cursor_arg(args: Mapping[str, str], name: str) -> str | None:
    raw = args.get(name)
    if raw is None:
        return None
    if len(raw) > CURSOR_MAX:
        raise PageParamError(name, f"{name} is not a cursor of this list (the `next` or `previous` of a page)")
    return raw


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_MICROSECOND = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
# How a cursor writes each kind of sort column: a pattern every such value matches, and what any
# text that matches it means. Every text that matches is read (a number past the range means
# the end of it), so the API's documented pattern is exactly what it accepts.
_PARTS: dict[type, tuple[str, Any, Any]] = {
    # microseconds since 1970 (UTC): exact, as the database keeps them
    datetime: ("[0-9]{1,18}", lambda v: str((v - _EPOCH) // timedelta(microseconds=1)),
               lambda t: _EPOCH + timedelta(microseconds=min(int(t), _LAST_MICROSECOND))),
    uuid.UUID: ("[0-9a-f]{32}", lambda v: v.hex, lambda t: uuid.UUID(hex=t)),
    int: ("[0-9]{1,10}", str, lambda t: min(int(t), MAX_ID)),
}


@dataclass(frozen=True)
class Keyset:
    """The order of a list that can be paged by position: its sort columns, each ascending or
    descending (`(column, True)` for descending), the last one unique. It must be the order the
    list's statement has; an index on these columns (behind its filters) makes every page cheap.

    A cursor is the page number it leads to and the sort key of one row, dot-separated:
    `3.1772451000123456.5238b6846bbf4e10821c9a9ab9869a13` (page 3, a time in microseconds, a
    UUID). It is no secret: any value only moves the position within the caller's own list."""

    order: tuple[tuple[Any, bool], ...]

    @property
    def pattern(self) -> str:
        """The regular expression of this list's cursors (web/api/openapi.yaml states it)."""
        return "^" + r"\.".join(["[0-9]{1,7}", *(_PARTS[_kind(column)][0] for column, _ in self.order)]) + "$"

    def cursor(self, page: int, row: Any) -> str:
        """The cursor of `row` (an ORM object or a result row), leading to page `page`."""
        return ".".join([str(page), *(_PARTS[_kind(column)][1](getattr(row, column.key))
                                      for column, _descending in self.order)])

    def read(self, raw: str, field: str) -> tuple[int, tuple[Any, ...]]:
        """(page, sort key) of a cursor; PageParamError naming `field` for anything that does not
        match `pattern`."""
        if not re.fullmatch(self.pattern[1:-1], raw, flags=re.ASCII):
            raise PageParamError(field, f"{field} is not a cursor of this list (the `next` or `previous` of a page)")
        page, *values = raw.split(".")
        key = tuple(_PARTS[_kind(column)][2](value) for (column, _descending), value in zip(self.order, values, strict=True))
        return min(max(int(page), 1), MAX_PAGE), key

    def beyond(self, key: Sequence[Any], forward: bool) -> sa.ColumnElement[bool]:
        """The rows after `key` in the list's order (before it when not `forward`). The first
        column's bound is repeated on its own, so the index scan starts at the key instead of
        reading its way there from the top of the list."""
        def further(column: Any, descending: bool, value: Any, inclusive: bool = False) -> sa.ColumnElement[bool]:
            down = descending == forward
            if inclusive:
                return column <= value if down else column >= value
            return column < value if down else column > value

        branches = []
        for i, ((column, descending), value) in enumerate(zip(self.order, key, strict=True)):
            same = [c == v for (c, _d), v in zip(self.order[:i], key[:i], strict=True)]
            branches.append(sa.and_(*same, further(column, descending, value)))
        (first, first_descending), first_value = self.order[0], key[0]
        return sa.and_(further(first, first_descending, first_value, inclusive=True), sa.or_(*branches))

    def ordered(self, forward: bool) -> list[Any]:
        return [column.desc() if descending == forward else column.asc() for column, descending in self.order]


def _kind(column: Any) -> type:
    column_type = column.type
    if isinstance(column_type, sa.types.TypeDecorator):
        column_type = column_type.impl_instance  # core.db.UTCDateTime: a datetime
    return column_type.python_type


@dataclass(frozen=True)
class Count:
    """How many rows, counted up to a cap: `value` is exact, or the cap when `exact` is False."""

    value: int
    exact: bool

    def __str__(self) -> str:
        return f"{self.value}" if self.exact else f"{self.value}+"

    def __bool__(self) -> bool:
        return self.value > 0


def capped_count(session: Session, statement: sa.Select, cap: int | None = None) -> Count:
    """The rows of `statement`, counted no further than `cap` (COUNT_CAP unless given): it
    reads at most cap + 1 of them."""
    cap = COUNT_CAP if cap is None else cap
    return _count(session.scalar(_capped(statement, cap)), cap)


def capped_counts(session: Session, statements: Mapping[K, sa.Select], cap: int | None = None) -> dict[K, Count]:
    """capped_count of each statement, all in one SELECT of scalar subqueries: one round trip
    and one statement to compile however many there are (the overview counts nine or more)."""
    return CappedCounts.of(statements, cap).read(session)


@dataclass(frozen=True)
class CappedCounts(Generic[K]):
    """capped_counts' one SELECT, built once: a caller that counts the same statements on every
    request (the operator's overview) keeps it rather than build a dozen subqueries each time."""

    names: tuple[K, ...]
    statement: sa.Select | None  # None: nothing to count
    cap: int

    @classmethod
    def of(cls, statements: Mapping[K, sa.Select], cap: int | None = None) -> CappedCounts[K]:
        cap = COUNT_CAP if cap is None else cap
        columns = [_capped(statement, cap).scalar_subquery().label(f"c{k}")
                   for k, statement in enumerate(statements.values())]
        return cls(tuple(statements), sa.select(*columns) if columns else None, cap)

    def read(self, session: Session) -> dict[K, Count]:
        if self.statement is None:
            return {}
        row = session.execute(self.statement).one()
        return {name: _count(n, self.cap) for name, n in zip(self.names, row, strict=True)}


def _capped(statement: sa.Select, cap: int) -> sa.Select:
    # LIMIT cap + 1 inside: the database stops reading once it knows the count is capped.
    return sa.select(sa.func.count()).select_from(statement.order_by(None).limit(cap + 1).subquery())


def _count(counted: int | None, cap: int) -> Count:
    counted = int(counted or 0)
    return Count(min(counted, cap), counted <= cap)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int
    exact: bool = True  # `total` is the count; False: at least that many (COUNT_CAP)
    more: bool | None = None  # a next page exists (None: judge by the total)
    earlier: bool = False  # a page before exists although `page` says 1 (rows arrived at the top)
    next_cursor: str | None = None
    previous_cursor: str | None = None
    cursors: bool = False  # the list pages by cursor (its meta names next/previous)

    @property
    def pages(self) -> int:
        counted = max(1, ceil(self.total / self.size))
        if self.exact:
            return counted
        return max(counted, self.page + (1 if self.has_next else 0))  # at least that many

    @property
    def has_next(self) -> bool:
        return self.more if self.more is not None else self.page < max(1, ceil(self.total / self.size))

    @property
    def has_previous(self) -> bool:
        return self.page > 1 or self.earlier

    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"page": self.page, "size": self.size, "total": self.total, "pages": self.pages,
                                "total_exact": self.exact}
        if self.cursors:
            meta |= {"next": self.next_cursor, "previous": self.previous_cursor}
        return meta


def paginate(session: Session, statement: sa.Select, request: PageRequest, scalars: bool = True,
             keyset: Keyset | None = None) -> Page[Any]:
    """Count (up to COUNT_CAP) and fetch one page of `statement`, which must have a deterministic
    ORDER BY: by OFFSET for `?page=`, or, for a list with a `keyset` (its order), right after or
    before a cursor. Raises PageParamError for a cursor the list did not give out."""
    count = capped_count(session, statement)

    def fetch(query: sa.Select) -> list[Any]:
        return list(session.scalars(query).all() if scalars else session.execute(query).all())

    size, earlier = request.size, False
    if keyset is not None and request.before is not None:
        before = keyset.read(request.before, "before")  # read even when `after` wins: it must be a cursor
    if keyset is not None and request.after is not None:
        number, key = keyset.read(request.after, "after")
        rows = fetch(statement.where(keyset.beyond(key, forward=True)).limit(size + 1))
        more = len(rows) > size
        rows = rows[:size]
    elif keyset is not None and request.before is not None:
        number, key = before
        backwards = statement.where(keyset.beyond(key, forward=False)).order_by(None)
        rows = fetch(backwards.order_by(*keyset.ordered(forward=False)).limit(size + 1))
        earlier, more = len(rows) > size, True  # the cursor's own row comes after this page
        rows = rows[:size][::-1]
        if not earlier:
            number = 1  # nothing before these rows: this is the first page, whatever the cursor said
        elif number == 1:
            earlier = True  # rows arrived at the top since: page "1" has a page before it
    else:
        number = request.page
        rows = fetch(statement.limit(size + 1).offset((number - 1) * size))
        more = len(rows) > size
        rows = rows[:size]
    next_cursor = previous_cursor = None
    if keyset is not None and rows:
        if more:
            next_cursor = keyset.cursor(number + 1, rows[-1])
        if number > 1 or earlier:
            previous_cursor = keyset.cursor(max(1, number - 1), rows[0])
    return Page(items=rows, total=count.value, page=number, size=size, exact=count.exact, more=more, earlier=earlier,
                next_cursor=next_cursor, previous_cursor=previous_cursor, cursors=keyset is not None)


def job_state(raw: str | None) -> str | None:
    """The state filter of a list of jobs: None (every state) or one of JOB_STATES."""
    if raw is not None and raw not in JOB_STATES:
        raise PageParamError("state", f"state must be one of {', '.join(JOB_STATES)}")
    return raw
