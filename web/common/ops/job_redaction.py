"""What the console shows of a job's payload, result and errors (issue 11: "no secret from a
payload is ever shown"; personal data only to operators).

Secrets go by the name of their key (password, token, secret, key, hash, credential, ...) and,
whatever their key, by their look (a password hash, a JWT, an AWS access key id, a bearer
header, a presigned URL's signature), so a secret that ended up in an error message or under an
innocent key is masked too. Personal data (emails, names, phone numbers, addresses) is shown to
operators and masked for institution admins: an admin sees their own institution's jobs, but a
payload may name people it would not otherwise show them (e.g. an email sent to another school's
address). The structure stays (keys, lists, nesting) so the JSON still reads as the job's.
"""
from __future__ import annotations

import re
from typing import Any

SECRET = "[redacted]"
PERSONAL = "[personal data: operators only]"
DEEPER = "[nested too deep]"
MAX_DEPTH = 20
MAX_ITEMS = 500  # per object or list: a huge payload is shown in part

_SECRET_KEY = re.compile(r"pass(word|wd|phrase)?|pwd|token|secret|key|hash|credential|auth|cookie|session|signature"
                         r"|private|otp|salt|nonce|csrf", re.IGNORECASE)
_PERSONAL_KEY = re.compile(r"e_?mail|name|phone|mobile|address|birth|cpf|ssn", re.IGNORECASE)
# Values that are secrets whatever their key.
_SECRET_VALUE = re.compile(
    r"\$(?:2[abxy]|argon2(?:id|i|d)|pbkdf2[-_a-z0-9]*|scrypt|[56])\$\S+"  # password hashes ($2b$..., $argon2id$...)
    r"|(?:pbkdf2|scrypt):[\w:$.+/=-]+"  # werkzeug's hash format
    r"|eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*"  # a JWT
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # an AWS access key id
    r"|(?i:bearer)\s+[\w.~+/-]{16,}=*"  # an Authorization header's value
    r"|(?i:x-amz-(?:signature|credential|security-token))=[^&\s]+"  # a presigned URL's secret parts
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def redact_text(text: str, personal: bool = True) -> str:
    """`text` with secret-looking values masked and, unless `personal`, email addresses too."""
    text = _SECRET_VALUE.sub(SECRET, text)
    return text if personal else _EMAIL.sub(PERSONAL, text)


def redact(value: Any, personal: bool, depth: int = 0) -> Any:
    """A copy of JSON `value` fit to show: secrets masked; personal data masked unless `personal`
    (the viewer is an operator)."""
    if depth > MAX_DEPTH:
        return DEEPER
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for n, (key, item) in enumerate(value.items()):
            if n >= MAX_ITEMS:
                shown["…"] = f"{len(value) - MAX_ITEMS} more"
                break
            name = str(key)
            if _SECRET_KEY.search(name):
                shown[name] = SECRET if item is not None else None
            elif not personal and _PERSONAL_KEY.search(name) and item is not None:
                shown[name] = PERSONAL
            else:
                shown[name] = redact(item, personal, depth + 1)
        return shown
    if isinstance(value, list):
        items = [redact(item, personal, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more")
        return items
    if isinstance(value, str):
        return redact_text(value, personal)
    return value
