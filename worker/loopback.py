"""The sqsd paths answer loopback callers only.

sqsd runs on the worker instance and POSTs to http://localhost/ (eb-worker-facts.md 1.1), so a
job message or periodic task from any other address is made up: anyone who reaches port 80 of a
worker could otherwise run jobs and tasks with an invented X-Aws-Sqsd-Msgid. nginx refuses such
callers first (`.platform/nginx/conf.d/elasticbeanstalk/01-proxy.conf`); this is the second wall,
for a request that reaches gunicorn some other way or through a proxy on the instance. The direct
peer must be loopback, and so must every address a proxy recorded: nginx appends the client it
served to X-Forwarded-For and sets X-Real-IP to it.
"""
from __future__ import annotations

import functools
import ipaddress
import logging
import re

from flask import Flask, request

from core.app import json_error
from core.jobs.sqsd_paths import SQSD_PREFIX

log = logging.getLogger(__name__)
FORWARDING_HEADERS = ("X-Forwarded-For", "X-Real-IP")
# Their WSGI names: the environ holds one value per header (servers join repeated lines with
# commas), so reading it directly is what request.headers.getlist() gives, without its scan of
# the whole environ on every sqsd POST.
_ENVIRON_KEYS = tuple("HTTP_" + header.upper().replace("-", "_") for header in FORWARDING_HEADERS)
SQSD_BLUEPRINT = "sqsd"  # worker/sqsd.py


@functools.lru_cache(maxsize=256)  # the same few addresses on every POST (sqsd's, nginx's)
def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything else, unparsable included."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _recorded_addresses() -> list[str]:
    """Every address in the forwarding headers, each header line and each comma-separated entry."""
    environ = request.environ
    return [entry for key in _ENVIRON_KEYS if (line := environ.get(key)) is not None for entry in line.split(",")]


def _peer_address() -> str | None:
    """The address that connected to gunicorn. werkzeug's ProxyFix, if something ever wraps the
    app in it, replaces REMOTE_ADDR with a header's value and keeps the real one aside."""
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    return original.get("REMOTE_ADDR", request.remote_addr)


def _guarded() -> bool:
    """A route of the sqsd blueprint, or any path under SQSD_PREFIX however spelt (`//sqsd/x`)."""
    path = re.sub("/{2,}", "/", request.path)
    return request.blueprint == SQSD_BLUEPRINT or path == SQSD_PREFIX or path.startswith(SQSD_PREFIX + "/")


def refuse_unless_loopback():
    if not _guarded():
        return None
    peer, forwarded = _peer_address(), _recorded_addresses()
    if is_loopback(peer) and all(is_loopback(address) for address in forwarded):
        return None
    log.warning("refused an sqsd path from a non-loopback caller: remote_addr=%s forwarded=%s path=%s",
                peer, forwarded, request.path)
    return json_error(403, "the sqsd paths accept only loopback callers (sqsd on this instance)")


def install(app: Flask) -> None:
    """Guard the sqsd paths app-wide, so unknown ones too are refused before routing answers 404
    or 405 (a blueprint's own before_request runs only for its matched routes)."""
    app.before_request(refuse_unless_loopback)
