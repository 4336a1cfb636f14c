"""Pagination and filtering in SQL: a list never loads more rows than the page it shows."""
from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any, Generic, Mapping, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

T = TypeVar("T")
DEFAULT_SIZE = 20
MAX_SIZE = 100


class PageParamError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    size: int = DEFAULT_SIZE

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "PageRequest":
        def number(name: str, default: int, high: int) -> int:
            raw = args.get(name)
            if raw in (None, ""):
                return default
            if not str(raw).isdigit() or not 1 <= int(raw) <= high:
                raise PageParamError(name, f"{name} must be a whole number from 1 to {high}")
            return int(raw)

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
