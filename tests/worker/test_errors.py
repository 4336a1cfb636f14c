"""Errors are classified explicitly: throttling is transient, a rejected message permanent."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from worker.errors import PermanentJobError, TransientJobError, is_permanent


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "SendEmail")


@pytest.mark.parametrize("code", ["Throttling", "TooManyRequestsException", "LimitExceededException",
                                  "ServiceUnavailable", "InternalFailure", "AccessDenied", "SomethingNew"])
def test_transient(code):
    assert not is_permanent(client_error(code))


@pytest.mark.parametrize("code", ["MessageRejected", "MailFromDomainNotVerifiedException", "BadRequestException",
                                  "NotFoundException", "AccountSuspendedException"])
def test_permanent(code):
    assert is_permanent(client_error(code))


def test_our_own_classes_and_unknown_exceptions():
    assert is_permanent(PermanentJobError("x"))
    assert not is_permanent(TransientJobError("x"))
    assert not is_permanent(ValueError("a bug is retried until max attempts, then fails"))
