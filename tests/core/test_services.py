"""core.app.Services: every client is built by the app factory from the app's settings, one set
per app (no module-level client); the web tier builds no SES client and has no mailer."""
from __future__ import annotations

import pytest

from core.app import Services
from core.aws import AwsClients
from tests.conftest import make_settings


@pytest.fixture
def built(monkeypatch) -> list[tuple[str, bool]]:
    """(service, fast) of every boto3 client built."""
    seen: list[tuple[str, bool]] = []
    real = AwsClients.client

    def recording(self, service, *, fast=False):
        seen.append((service, fast))
        return real(self, service, fast=fast)

    monkeypatch.setattr(AwsClients, "client", recording)
    return seen


def _services(role: str, tmp_path, aws, **overrides: str) -> Services:
    return Services(make_settings(role, f"sqlite:///{tmp_path}/unused.sqlite3", aws, **overrides))


def test_the_web_tier_builds_no_ses_client_and_has_no_mailer(tmp_path, aws, built):
    services = _services("web", tmp_path, aws)
    assert built == [("sqs", True), ("s3", False)]  # SQS fast: no request waits long for it
    with pytest.raises(RuntimeError, match="the web tier has no mailer"):
        services.mailer  # noqa: B018


def test_the_worker_builds_its_mailer_from_its_settings(tmp_path, aws, built):
    services = _services("worker", tmp_path, aws, MAIL_MAILBOX_DIR=str(tmp_path / "mailbox"))
    assert built == [("sqs", False), ("s3", False), ("sesv2", True)]
    assert (services.mailer.sender, services.mailer.mailbox_dir) == (aws["MAIL_SENDER"], tmp_path / "mailbox")
    assert services.mailer.ses.meta.service_model.service_name == "sesv2"


def test_each_app_has_its_own_clients_and_metrics_namespace(tmp_path, aws):
    first = _services("worker", tmp_path, aws, METRICS_NAMESPACE="Aula-a/Jobs")
    second = _services("worker", tmp_path, aws)
    assert first.queue.sqs is not second.queue.sqs and first.mailer.ses is not second.mailer.ses
    assert (first.metrics.namespace, second.metrics.namespace) == ("Aula-a/Jobs", "Aula/Jobs")
