"""Email through SES (sesv2 `SendEmail`), rendered from templates, never invisible.

Each email is a pair of Jinja2 templates in `core/templates/email/`: `<name>.txt` (the text
part; it also sets the subject with `{% set subject = ... %}`) and `<name>.html` (the HTML
part, autoescaped, given the same context plus `subject`). A missing variable is an error
(StrictUndefined), never a silently empty hole in an email.

Every email about a kind of notification (core/notification_kinds.py TEMPLATE_KINDS) carries a
signed unsubscribe link (core/unsubscribe.py): in the text part's last line, in the HTML part's
footer (`unsubscribe_url` in the context; the layout shows it), and as the List-Unsubscribe and
List-Unsubscribe-Post headers (RFC 8058 one-click: mail clients POST to the same link). It is
added here, so no template or job can forget it.

Every send logs one INFO line (to, subject, SES MessageId). When `MAIL_MAILBOX_DIR` is set
(`make run` sets it to var/mailbox) each sent email is also written there as an .eml file, so
a developer reads what the stack sent in var/mailbox or in the worker log.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import jinja2

from core import unsubscribe
from core.aws import AwsClients
from core.notification_kinds import TEMPLATE_KINDS
from core.settings import Settings

log = logging.getLogger(__name__)
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates" / "email"

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


# The local mailbox's parts: UTF-8 as is (8bit), so the .eml reads as text, or quoted-printable
# for a part with a line longer than mail allows (998 bytes). Built with the email package's
# classic classes: its EmailMessage (header registry, policy.default) took ~10 ms a message,
# more than the SES call, and the mailbox is written for every local send.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = None
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def _mime_text(text: str, subtype: str) -> MIMEText:
    long_lines = any(len(line) > 998 for line in text.encode("utf-8").splitlines())
    return MIMEText(text, subtype, _UTF8_QP if long_lines else _UTF8)


class TemplateError(Exception):
    """A template is missing, or its context lacks what it needs: retrying cannot fix it."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str
    unsubscribe_url: str | None = None

    def headers(self) -> list[tuple[str, str]]:
        if not self.unsubscribe_url:
            return []
        return [("List-Unsubscribe", f"<{self.unsubscribe_url}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]


def render(template: str, context: dict[str, Any], unsubscribe_url: str | None = None) -> RenderedEmail:
    """Render a template pair. With `unsubscribe_url`, the text part ends with the link and the
    HTML layout shows it (templates read it as `unsubscribe_url`, None when there is none)."""
    context = {**context, "unsubscribe_url": unsubscribe_url}
    if not re.fullmatch(r"[a-z0-9_]+", template):
        raise TemplateError(f"bad email template name {template!r}")
    try:
        text_module = _environment.get_template(f"{template}.txt").make_module(context)
        subject = " ".join(str(getattr(text_module, "subject", "")).split())
        if not subject:
            raise TemplateError(f"email template {template}.txt sets no subject")
        html = _environment.get_template(f"{template}.html").render({**context, "subject": subject})
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"no email template {exc.name}") from exc
    except jinja2.TemplateError as exc:  # a missing variable, a syntax error
        raise TemplateError(f"email template {template}: {exc}") from exc
    text = str(text_module).strip() + "\n"
    if unsubscribe_url:
        text += f"\nTo stop these emails: {unsubscribe_url}\n"
    return RenderedEmail(subject=subject, text=text, html=html, unsubscribe_url=unsubscribe_url)


class Mailer:
    def __init__(self, ses_client: Any, sender: str, mailbox_dir: str | Path | None = None, *,
                 secret_key: str | None = None, base_url: str | None = None):
        self.ses = ses_client
        self.sender = sender
        self.mailbox_dir = Path(mailbox_dir) if mailbox_dir else None
        # Both needed to sign unsubscribe links; a mailer built without them (a unit test) sends none.
        self.secret_key = secret_key
        self.base_url = base_url

    def unsubscribe_url(self, to: str, template: str) -> str | None:
        kind = TEMPLATE_KINDS.get(template)
        if kind is None or not self.secret_key or not self.base_url:
            return None
        return unsubscribe.link(self.secret_key, self.base_url, to, kind)

    @classmethod
    def from_settings(cls, settings: Settings, clients: AwsClients | None = None) -> Mailer:
        # fast=True bounds one send to a few seconds (two attempts), well inside the email job's
        # time limit and lease: a send must never outlive the claim that protects it.
        ses = (clients or AwsClients(settings)).client("sesv2", fast=True)
        return cls(ses, settings.mail_sender, settings.mail_mailbox_dir, secret_key=settings.secret_key,
                   base_url=settings.public_base_url)

    def send(self, to: str, template: str, context: dict[str, Any]) -> str:
        """Render and send one email; return SES's MessageId. SES errors (botocore ClientError)
        propagate for the caller to classify."""
        email = render(template, context, self.unsubscribe_url(to, template))
        simple: dict[str, Any] = {
            "Subject": {"Data": email.subject, "Charset": "UTF-8"},
            "Body": {
                "Text": {"Data": email.text, "Charset": "UTF-8"},
                "Html": {"Data": email.html, "Charset": "UTF-8"},
            },
        }
        if email.headers():
            simple["Headers"] = [{"Name": name, "Value": value} for name, value in email.headers()]
        response = self.ses.send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": [to]},
            Content={"Simple": simple},
        )
        message_id = response["MessageId"]
        log.info("email sent to %s, subject %r, SES MessageId %s", to, email.subject, message_id,
                 extra={"mail_to": to, "mail_subject": email.subject, "ses_message_id": message_id,
                        "mail_template": template})
        if self.mailbox_dir is not None:
            self._to_mailbox(to, email, message_id)
        return message_id

    def _to_mailbox(self, to: str, email: RenderedEmail, message_id: str) -> Path | None:
        message = MIMEMultipart("alternative")
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = Header(email.subject, "utf-8")
        message["Date"] = formatdate(localtime=False)
        # An explicit domain: make_msgid would otherwise ask DNS for this host's name.
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "aula.local"
        message["Message-ID"] = make_msgid(idstring=re.sub(r"[^A-Za-z0-9.-]", "", message_id)[:60] or None,
                                           domain=domain)
        message["X-SES-Message-Id"] = message_id
        for name, value in email.headers():
            message[name] = value
        message.attach(_mime_text(email.text, "plain"))
        message.attach(_mime_text(email.html, "html"))
        # Sortable by time: `ls var/mailbox` lists the newest last.
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{_safe(message_id)}.eml"
        try:
            self.mailbox_dir.mkdir(parents=True, exist_ok=True)
            # Written whole then renamed, so a reader never sees half a message.
            fd, tmp = tempfile.mkstemp(dir=self.mailbox_dir, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(message.as_bytes())
            path = self.mailbox_dir / name
            os.replace(tmp, path)
        except OSError:
            # The email is already sent; a full disk in the local mailbox must not fail the job.
            log.warning("could not write the email to the local mailbox %s", self.mailbox_dir, exc_info=True)
            return None
        return path


def _safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", value)[:120]
