"""ORM objects for rows the web tier inserts with one Core statement (INSERT ... SELECT), so the
callers that expect model instances (serializers, pages, tests that change a job and commit)
get them without the unit of work's flush and without reading the row back."""
from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

M = TypeVar("M")


def attach(session: Session, model: type[M], values: dict[str, Any]) -> M:
    """The persistent instance of a row just inserted with `values` (its every column: the ones
    not given are None, as the INSERT left them). No SQL: the session takes it as loaded, and
    later changes to it are flushed as UPDATEs like any other."""
    columns = {attr.key: None for attr in sa.inspect(model).column_attrs}
    unknown = set(values) - set(columns)
    if unknown:
        raise ValueError(f"{model.__name__} has no column {sorted(unknown)}")
    instance = model(**{**columns, **values})
    make_transient_to_detached(instance)
    session.add(instance)
    return instance
