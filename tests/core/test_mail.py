"""core.mail: templates, the SES call (moto), the INFO line and the local mailbox."""
from __future__ import annotations

import logging
from email import policy
from email.parser import BytesParser

import pytest

from core.mail import Mailer, TemplateError, render
from tests.conftest import make_settings
from tests.support.ses import SentMail

CONTEXT = {
    "student": {"name": "Ana <Souza>"},
    "teacher": {"name": "Prof. Lima"},
    "school_class": {"code": "MAT-101", "name": "Álgebra I"},
    "activity": {"title": "Lista 1 & <revisão>", "description": "Exercícios 1-10", "due": "2026-09-01 23:59 UTC"},
}


@pytest.fixture
def sent(aws) -> SentMail:
    return SentMail()


def _mailer(aws, tmp_path, **overrides: str) -> Mailer:
    return Mailer.from_settings(make_settings("worker", f"sqlite:///{tmp_path}/unused.sqlite3", aws, **overrides))


def test_templates_render_subject_text_and_escaped_html():
    email = render("activity_published", CONTEXT)
    assert email.subject == "New activity in MAT-101: Lista 1 & <revisão>"
    assert "Hello Ana <Souza>," in email.text and "Lista 1 & <revisão>" in email.text  # text is not escaped
    assert "Due: 2026-09-01 23:59 UTC" in email.text
    assert "Ana &lt;Souza&gt;" in email.html and "Lista 1 &amp; &lt;revisão&gt;" in email.html
    assert "<Souza>" not in email.html
    assert "<title>New activity in MAT-101: Lista 1 &amp; &lt;revisão&gt;</title>" in email.html


def test_a_missing_variable_or_template_is_an_error_not_an_empty_hole():
    with pytest.raises(TemplateError, match="activity"):
        render("activity_published", {k: v for k, v in CONTEXT.items() if k != "activity"})
    with pytest.raises(TemplateError, match="no email template"):
        render("no_such_email", CONTEXT)
    with pytest.raises(TemplateError, match="bad email template name"):
        render("../settings", CONTEXT)


def test_send_goes_through_ses_with_both_parts_and_logs_one_info_line(aws, tmp_path, sent, caplog):
    caplog.set_level(logging.INFO, logger="core.mail")
    mailer = _mailer(aws, tmp_path)
    assert mailer.mailbox_dir is None

    message_id = mailer.send("ana@example.test", "activity_published", CONTEXT)

    assert sent.count() == 1
    [message] = sent.messages
    assert message.id == message_id
    assert message.source == aws["MAIL_SENDER"]
    assert message.destinations == {"ToAddresses": ["ana@example.test"]}
    assert message.subject == "New activity in MAT-101: Lista 1 & <revisão>"
    assert "Ana &lt;Souza&gt;" in message.body  # moto keeps the HTML part when there is one
    lines = [r for r in caplog.records if r.name == "core.mail"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    text = lines[0].getMessage()
    assert "ana@example.test" in text and "Lista 1 & <revisão>" in text and message_id in text
    assert not list(tmp_path.glob("**/*.eml"))


def test_with_a_mailbox_dir_every_sent_email_is_also_an_eml_file(aws, tmp_path, sent):
    mailbox = tmp_path / "var" / "mailbox"
    mailer = _mailer(aws, tmp_path, MAIL_MAILBOX_DIR=str(mailbox))

    first = mailer.send("ana@example.test", "activity_published", CONTEXT)
    second = mailer.send("bia@example.test", "activity_published", CONTEXT)

    files = sorted(mailbox.glob("*.eml"))
    assert len(files) == 2 == sent.count()
    assert not list(mailbox.glob("*.tmp"))
    parsed = [BytesParser(policy=policy.default).parsebytes(f.read_bytes()) for f in files]
    assert {m["X-SES-Message-Id"] for m in parsed} == {first, second}
    email = next(m for m in parsed if m["X-SES-Message-Id"] == first)
    assert (email["From"], email["To"]) == (aws["MAIL_SENDER"], "ana@example.test")
    assert email["Subject"] == "New activity in MAT-101: Lista 1 & <revisão>"
    assert "Hello Ana <Souza>," in email.get_body(preferencelist=("plain",)).get_content()
    assert "Ana &lt;Souza&gt;" in email.get_body(preferencelist=("html",)).get_content()


def test_mail_mailbox_dir_is_optional(aws, tmp_path):
    settings = make_settings("worker", "sqlite:///x.sqlite3", aws)
    assert settings.mail_mailbox_dir is None
    configured = make_settings("worker", "sqlite:///x.sqlite3", aws, MAIL_MAILBOX_DIR="var/mailbox")
    assert configured.mail_mailbox_dir == "var/mailbox"


def test_the_mailbox_keeps_text_readable_and_long_lines_within_mail_limits(aws, tmp_path, sent):
    short_box, long_box = tmp_path / "short", tmp_path / "long"
    _mailer(aws, tmp_path, MAIL_MAILBOX_DIR=str(short_box)).send("ana@example.test", "activity_published", CONTEXT)
    long_description = "é" * 700  # 1,400 bytes on one line: too long for a line of mail
    _mailer(aws, tmp_path, MAIL_MAILBOX_DIR=str(long_box)).send(
        "ana@example.test", "activity_published",
        {**CONTEXT, "activity": {**CONTEXT["activity"], "description": long_description}})

    [short], [long] = short_box.glob("*.eml"), long_box.glob("*.eml")
    assert b"Content-Transfer-Encoding: 8bit" in short.read_bytes()
    assert "published a new activity in MAT-101 Álgebra I".encode() in short.read_bytes()  # as written
    raw = long.read_bytes()
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert all(len(line) <= 998 for line in raw.splitlines())
    email = BytesParser(policy=policy.default).parsebytes(raw)
    assert email["Subject"] == "New activity in MAT-101: Lista 1 & <revisão>"
    assert long_description in email.get_body(preferencelist=("plain",)).get_content()
    assert long_description in email.get_body(preferencelist=("html",)).get_content()
