"""Plain text with its web addresses made into links, safely: everything is escaped, and only
http(s) URLs become <a> elements, opening in a new tab without the opener, a referrer or any
endorsement (rel="nofollow noopener noreferrer"). No other markup survives, so a description
can never carry a script, an attribute or a javascript: link."""
from __future__ import annotations

import re

from markupsafe import Markup, escape

# An address runs to the first space, control character, quote or angle bracket.
_URL = re.compile(r"https?://[^\s<>\"'`\x00-\x1f\x7f]+", re.IGNORECASE)
# Sentence punctuation after an address belongs to the sentence, not to the address.
_TRAILING = ".,;:!?"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
URL_MAX = 2000  # longer "addresses" stay text
_LINK = Markup('<a href="{0}" rel="nofollow noopener noreferrer" target="_blank">{0}</a>')


def _trim(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last]):
            url = url[:-1]  # "(see https://x.org/a)": the parenthesis closes the sentence's
        else:
            break
    return url


def linked_text(text: str | None) -> Markup:
    """`text` escaped, with every http(s) URL in it an <a>; newlines are kept (show it in an
    element that preserves them, e.g. class "prewrap")."""
    if not text:
        return Markup("")
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = _trim(match.group(0))
        if len(url) <= len("https://") or len(url) > URL_MAX:
            continue
        start, end = match.start(), match.start() + len(url)
        parts.append(escape(text[position:start]))
        # Markup.format escapes the URL, for the attribute and the text alike.
        parts.append(_LINK.format(url))
        position = end
    parts.append(escape(text[position:]))
    return Markup("").join(parts)
