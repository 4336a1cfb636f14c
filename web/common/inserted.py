"""ORM objects for rows the web tier inserts with one Core statement (INSERT ... SELECT), so the
callers that expect model instances (serializers, pages, tests that change a job and commit)
get them without the unit of work's flush and without reading the row back."""
from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class

M = TypeVar("M")


def attach(session: Session, model: type[M], values: dict[str, Any]) -> M:
    """The persistent instance of a row just inserted with `values` (its every column: the ones
    not given are None, as the INSERT left them). No SQL: the session takes it as loaded, and
    later changes to it are flushed as UPDATEs like any other."""
    columns = _column_keys(model)
    unknown = set(values) - columns.keys()
    if unknown:
        raise ValueError(f"{model.__name__} has no column {sorted(unknown)}")
    instance = manager_of_class(model).new_instance()
    # Into the instance's dict directly, as the ORM's loading does: a value set through the
    # attributes would be a change to flush (and cost an event per column, about a quarter of
    # a millisecond an instance).
    instance.__dict__.update(columns, **values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


_columns: dict[type, dict[str, None]] = {}


def _column_keys(model: type) -> dict[str, None]:
    keys = _columns.get(model)
    if keys is None:
        keys = _columns[model] = {attr.key: None for attr in sa.inspect(model).column_attrs}
    return keys
