"""Accepting an invitation (core/invitations.py): the password rules it sets a password by, the
same as the rest of the app's (web/common/institution_seed.py MIN_PASSWORD, werkzeug's hash via
core.auth)."""
from __future__ import annotations

from web.common.institution_seed import MIN_PASSWORD

# Long enough for any passphrase; bounded so a megabyte "password" cannot cost a slow hash.
MAX_PASSWORD = 200


def password_problem(password: str, confirm: str, email: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"Choose a password of at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"Choose a password of at most {MAX_PASSWORD} characters."
    if not password.strip():
        return "The password cannot be only spaces."
    if password.strip().lower() == email.strip().lower():
        return "The password cannot be your email address."
    if password != confirm:
        return "The two passwords differ; type the same one twice."
    return None
