"""Unsubscribe links (core/unsubscribe.py, core/mail.py): signed with the secret under their own
salt, unforgeable, carried by every notification email (text, HTML, List-Unsubscribe headers)
and by none that is not one."""
from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from itsdangerous import URLSafeSerializer

from core import unsubscribe
from core.mail import Mailer, render
from tests.conftest import make_settings
from tests.support.ses import SentMail

SECRET = "a-test-secret-that-is-long-enough-for-signing"
CONTEXT = {
    "student": {"id": 1, "name": "Ana"},
    "school_class": {"code": "MAT-101", "name": "Álgebra I"},
    "activity": {"id": 7, "title": "Lista 1"},
    "score": "87.5", "feedback": "Bom <trabalho>", "link": "http://aula.test/activities/7",
}


def test_a_token_round_trips_and_names_the_address_and_kind():
    token = unsubscribe.make_token(SECRET, " Ana@Example.TEST ", "grade_posted")
    assert unsubscribe.read_token(SECRET, token) == unsubscribe.Unsubscribe("ana@example.test", "grade_posted")
    assert unsubscribe.link(SECRET, "http://aula.test", "ana@example.test", "reminder").startswith(
        "http://aula.test/unsubscribe/")


@pytest.mark.parametrize("forge", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # a changed signature
    lambda t: unsubscribe.make_token("another-secret-of-some-length", "ana@example.test", "grade_posted"),
    lambda t: URLSafeSerializer(SECRET, salt="another-purpose").dumps({"e": "ana@example.test", "k": "grade_posted"}),
    lambda t: URLSafeSerializer(SECRET, salt=unsubscribe.SALT).dumps(["ana@example.test"]),  # not our shape
    lambda t: "", lambda t: "x" * 2000, lambda t: "not.a.token",
])
def test_anything_not_signed_by_us_for_this_purpose_is_refused(forge):
    token = unsubscribe.make_token(SECRET, "ana@example.test", "grade_posted")
    assert unsubscribe.read_token(SECRET, forge(token)) is None


def test_a_notification_email_carries_the_link_in_both_parts():
    email = render("grade_posted", CONTEXT, unsubscribe_url="http://aula.test/unsubscribe/abc")
    assert email.text.rstrip().endswith("To stop these emails: http://aula.test/unsubscribe/abc")
    assert 'href="http://aula.test/unsubscribe/abc"' in email.html
    assert ("List-Unsubscribe", "<http://aula.test/unsubscribe/abc>") in email.headers()
    assert ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click") in email.headers()
    assert "Bom &lt;trabalho&gt;" in email.html and "87.5/100" in email.subject
    bare = render("grade_posted", CONTEXT)
    assert "unsubscribe" not in bare.text.lower() and "data-unsubscribe" not in bare.html and bare.headers() == []


def test_the_mailer_signs_a_link_for_notification_templates_only(aws, tmp_path):
    settings = make_settings("worker", f"sqlite:///{tmp_path}/unused.sqlite3", aws, PUBLIC_BASE_URL="http://aula.test")
    mailer = Mailer.from_settings(settings)
    url = mailer.unsubscribe_url("ana@example.test", "grade_posted")
    assert url.startswith("http://aula.test/unsubscribe/")
    asked = unsubscribe.read_token(settings.secret_key, url.rsplit("/", 1)[1])
    assert asked == unsubscribe.Unsubscribe("ana@example.test", "grade_posted")
    assert unsubscribe.read_token(settings.secret_key, mailer.unsubscribe_url("a@b.c", "digest").rsplit("/", 1)[1]).kind \
        == "digest"
    assert mailer.unsubscribe_url("ana@example.test", "invitation") is None  # not a notification: no link


def test_a_sent_email_has_the_headers_in_the_local_mailbox(aws, tmp_path):
    SentMail()
    settings = make_settings("worker", f"sqlite:///{tmp_path}/unused.sqlite3", aws, PUBLIC_BASE_URL="http://aula.test",
                             MAIL_MAILBOX_DIR=str(tmp_path / "mailbox"))
    Mailer.from_settings(settings).send("ana@example.test", "grade_posted", CONTEXT)
    [eml] = (tmp_path / "mailbox").glob("*.eml")
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert message["List-Unsubscribe"].strip().startswith("<http://aula.test/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    assert "http://aula.test/activities/7" in text and "To stop these emails: http://aula.test/unsubscribe/" in text
