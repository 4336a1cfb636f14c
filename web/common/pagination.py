"""Pagination and filtering in SQL: a list never loads more rows than the page it shows. Reads
the query string of the API and the pages alike (PageParamError names the parameter at fault)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import ceil
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models.jobs import JOB_STATES
from core.parsing import InputError, int_param

T = TypeVar("T")
DEFAULT_SIZE = 20
MAX_SIZE = 100
SEARCH_MAX = 100  # characters of a search term


class PageParamError(InputError):
    """A bad page, size or filter; `field` names it."""


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    size: int = DEFAULT_SIZE

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> PageRequest:
        def number(name: str, default: int, high: int) -> int:
            try:
                return int_param(args.get(name), name, 1, high, default)
            except InputError as exc:
                raise PageParamError(exc.field, exc.message) from None

        return cls(page=number("page", 1, 1_000_000), size=number("size", DEFAULT_SIZE, MAX_SIZE))


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.size))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    def meta(self) -> dict[str, Any]:
        return {"page": self.page, "size": self.size, "total": self.total, "pages": self.pages}


def paginate(session: Session, statement: sa.Select, request: PageRequest, scalars: bool = True) -> Page[Any]:
    """Count and fetch one page of `statement` (which must have a deterministic ORDER BY)."""
    total = session.scalar(sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())) or 0
    page = statement.limit(request.size).offset((request.page - 1) * request.size)
    items = list(session.scalars(page).all() if scalars else session.execute(page).all())
    return Page(items=items, total=total, page=request.page, size=request.size)


def job_state(raw: str | None) -> str | None:
    """The state filter of a list of jobs: None (every state) or one of JOB_STATES."""
    if raw is not None and raw not in JOB_STATES:
        raise PageParamError("state", f"state must be one of {', '.join(JOB_STATES)}")
    return raw
