"""The query-string filters the console's batch, workflow and audit lists share: read the same
way by the API and the pages, each a 400 naming the field when it is not one the list knows.

The pages' filter forms send an empty value for "any": `form=True` reads "" as absent. The API
reads "" as what it is, a value that is none of the allowed ones (as GET /api/jobs does)."""
from __future__ import annotations

from collections.abc import Mapping

from core.parsing import MAX_ID, InputError, int_param
from web.common.pagination import PageParamError


def _raw(args: Mapping[str, str], name: str, form: bool) -> str | None:
    raw = args.get(name)
    return None if form and raw == "" else raw


def choice(args: Mapping[str, str], name: str, allowed: tuple[str, ...], form: bool = False) -> str | None:
    raw = _raw(args, name, form)
    if raw is not None and raw not in allowed:
        raise PageParamError(name, f"{name} must be one of {', '.join(allowed)}")
    return raw


def identifier(args: Mapping[str, str], name: str, form: bool = False) -> int | None:
    """A user or institution id."""
    try:
        return int_param(_raw(args, name, form), name, 1, MAX_ID)
    except InputError as exc:
        raise PageParamError(exc.field, exc.message) from None


def word(args: Mapping[str, str], name: str, max_length: int, form: bool = False) -> str | None:
    """An exact name (a workflow's, an action's): letters, digits, `_`, `-`, `.`, `:`, at most `max_length`."""
    raw = _raw(args, name, form)
    if raw is None:
        return None
    if not 0 < len(raw) <= max_length or not all(c.isascii() and (c.isalnum() or c in "_-.:") for c in raw):
        raise PageParamError(name, f"{name} must be 1 to {max_length} letters, digits or _ - . :")
    return raw
