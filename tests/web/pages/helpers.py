"""Page-test helpers: log in through the login form (with its CSRF token), read tokens and
elements from rendered HTML."""
from __future__ import annotations

import re
from html import unescape

from tests.factories import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"|name="csrf-token" content="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no CSRF token in the page"
    return unescape(match.group(1) or match.group(2))


def csrf_token(client, path: str = "/login") -> str:
    """The CSRF token of the current session, scraped from a page's form or meta tag."""
    return csrf_from(client.get(path).get_data(as_text=True))


def page_login(client, person, password: str = PASSWORD) -> None:
    """Log in with a session cookie, like a browser: GET the form, POST it with its token."""
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": person.email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def count(html: str, marker: str) -> int:
    """How many times an attribute marker such as 'data-notification=' occurs."""
    return html.count(marker)


def attr_values(html: str, attribute: str) -> list[str]:
    """The values of every `attribute="..."` in document order."""
    return [unescape(v) for v in re.findall(rf'\b{re.escape(attribute)}="([^"]*)"', html)]




def elements(html: str, tag: str, attribute: str) -> list[dict[str, str | None]]:
    """The attributes of every <tag> carrying `attribute` (like the CSS selector tag[attribute])."""
    from html.parser import HTMLParser

    found: list[dict[str, str | None]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, name, attrs):
            attributes = dict(attrs)
            if name == tag and attribute in attributes:
                found.append(attributes)

    Parser().feed(html)
    return found
