"""Signed unsubscribe links: `/unsubscribe/<token>` turns one kind of email off without a login.

The token is signed with SECRET_KEY under a salt of its own (itsdangerous), so it cannot be
forged, and a token made for another purpose (a session cookie) is not accepted here. It names
the address the email went to and the kind (`digest` for the digest, meaning every kind the user
receives by digest), not a user id: the mailer knows only the address, and a link that outlives
an address change simply no longer matches anyone. It does not expire and may be used again
(turning off what is off changes nothing); it grants nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from core.links import absolute

SALT = "aula.unsubscribe.v1"
#: The path the links point at (web/pages/preferences.py serves it).
PATH = "/unsubscribe/"


@dataclass(frozen=True)
class Unsubscribe:
    email: str
    kind: str


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=SALT)


def make_token(secret_key: str, email: str, kind: str) -> str:
    return _serializer(secret_key).dumps({"e": email.strip().lower(), "k": kind})


def read_token(secret_key: str, token: str) -> Unsubscribe | None:
    """What a token asks for, or None for anything not signed by us for this purpose."""
    if not token or len(token) > 1000:
        return None
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("e"), str) or not isinstance(data.get("k"), str):
        return None
    return Unsubscribe(email=data["e"], kind=data["k"])


def link(secret_key: str, base_url: str, email: str, kind: str) -> str:
    return absolute(base_url, PATH + make_token(secret_key, email, kind))
