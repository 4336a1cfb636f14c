"""The console's lists kept live (docs/console.md, "Live lists"): the first page of a list polls
its JSON twin (ETag and Retry-After, web/api/polling.py) and is drawn again when that changed. A
page further down, reached by cursor or number, is not: new work arrives at the top, so its rows
are a window the viewer opened to read, which a refresh would only shift under them, at the cost
of a list query per poll per open tab."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import url_for

from web.common.pagination import Page


def first_page_poll(endpoint: str, args: Mapping[str, Any], page: Page[Any] | None, given: Mapping[str, Any]) -> str | None:
    """The URL of `endpoint` (the JSON twin) with the list's filters `args`, when `page` is the
    first page of the list as `given` (the request's arguments); None further down or on an error."""
    if page is None or page.page != 1 or given.get("after") or given.get("before"):
        return None
    values = {key: value for key, value in args.items() if value not in (None, "", [])}
    if "size" in given:
        values["size"] = page.size
    return url_for(endpoint, **values)
