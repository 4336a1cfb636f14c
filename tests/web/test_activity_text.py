"""The activity page's text helpers: plain text with safe links, and times in a viewer's zone."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.parsing import InputError
from web.common.dates import from_input, input_value, local, valid_zone
from web.common.text_links import linked_text


def test_only_http_urls_become_links_and_everything_else_is_escaped():
    out = str(linked_text('See https://a.org/x?q=1&r=2, then (http://b.org/y). <b>hi</b> "quoted" '
                          'javascript:alert(1) ftp://c.org data:text/html,x'))
    assert out.count("<a ") == 2
    assert '<a href="https://a.org/x?q=1&amp;r=2" rel="nofollow noopener noreferrer" target="_blank">' in out
    assert '<a href="http://b.org/y" ' in out and "http://b.org/y</a>)." in out  # the sentence keeps its ")."
    assert "&lt;b&gt;hi&lt;/b&gt;" in out and "&#34;quoted&#34;" in out
    assert "javascript:alert(1)" in out and 'href="javascript' not in out and 'href="ftp' not in out


def test_a_quote_or_angle_bracket_ends_an_address():
    out = str(linked_text('https://a.org/"onmouseover="alert(1) https://b.org/<script>'))
    assert '<a href="https://a.org/" ' in out and "&#34;onmouseover=&#34;alert(1)" in out
    assert '<a href="https://b.org/" ' in out and "&lt;script&gt;" in out
    assert str(linked_text("")) == "" and str(linked_text(None)) == ""
    assert "<a " not in str(linked_text("https://"))


def test_times_show_in_the_zone_named_and_utc_without_one():
    moment = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
    assert local(moment, None) == "2030-01-15 12:00 UTC"
    assert local(moment, "America/Bogota") == "2030-01-15 07:00 America/Bogota (-05)"
    assert local(moment, "Europe/Madrid") == "2030-01-15 13:00 Europe/Madrid (CET)"
    assert local(moment, "Gone/Zone") == "2030-01-15 12:00 UTC"  # a name the tz database lost
    assert local(None, "Europe/Madrid") == ""


def test_form_times_are_read_in_the_users_zone():
    assert from_input("2030-07-01T23:30", "due_at", "Europe/Madrid") == datetime(2030, 7, 1, 21, 30, tzinfo=UTC)
    assert from_input("2030-07-01T23:30", "due_at", None) == datetime(2030, 7, 1, 23, 30, tzinfo=UTC)
    assert input_value(datetime(2030, 7, 1, 21, 30, tzinfo=UTC), "Europe/Madrid") == "2030-07-01T23:30"
    with pytest.raises(InputError):
        from_input("2030-07-01T23:30+02:00", "due_at", "Europe/Madrid")


@pytest.mark.parametrize("name", ["Europe/Madrid", "America/Argentina/Buenos_Aires", "UTC"])
def test_iana_names_are_accepted(name):
    assert valid_zone(name) == name


@pytest.mark.parametrize("name", ["", "Mars/Base", "europe/madrid", "/etc/passwd", "Europe/../UTC", None, 3, "x" * 65])
def test_anything_else_is_refused(name):
    with pytest.raises(InputError):
        valid_zone(name)
