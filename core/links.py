"""Absolute links into the web app, for what is read outside it (emails) or stored (notification
links): the configured PUBLIC_BASE_URL plus a path the app serves. Only paths are accepted, so a
link can never be made to point at another site."""
from __future__ import annotations

from urllib.parse import urlsplit


def absolute(base_url: str, path: str) -> str:
    """`base_url` + `path`; `path` must be a path of this app ("/activities/12"), never a URL."""
    parts = urlsplit(path)
    if not path.startswith("/") or path.startswith("//") or parts.scheme or parts.netloc:
        raise ValueError(f"not a path of this app: {path!r}")
    return base_url.rstrip("/") + path
