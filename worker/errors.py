"""How a failure is classified: permanent (fail now) or transient (retry with backoff).

Handlers raise PermanentJobError for what retrying cannot fix. AWS errors are classified by
their error code, so SES throttling is retried while a rejected address is not. Anything
unclassified is transient: it is retried until the job type's max attempts, so a bug still
ends as `failed` with its error instead of looping.
"""
from __future__ import annotations

import sqlalchemy as sa
from botocore.exceptions import ClientError


class PermanentJobError(Exception):
    """Retrying cannot help (missing data, bad input): the job fails at once."""


class TransientJobError(Exception):
    """Worth retrying later (throttling, a dependency briefly down)."""


class JobCancelled(Exception):
    """The run must stop at this progress point (cancelled by its owner, or its lease lost)."""


class TimeLimitExceeded(TransientJobError):
    """The run went past its job type's time limit; seen at a progress point."""


TRANSIENT_AWS_CODES = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestThrottled",
    "SlowDown", "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure",
    "InternalError", "InternalServerError", "RequestTimeout", "RequestTimeoutException",
    "LimitExceededException",  # SES: sending rate exceeded
})
PERMANENT_AWS_CODES = frozenset({
    "MessageRejected", "MailFromDomainNotVerifiedException", "MailFromDomainNotVerified",
    "BadRequestException", "NotFoundException", "InvalidParameterValue", "ValidationError",
    "AccountSuspendedException",
})
# Deliberately absent: AccessDenied and NoSuchBucket. They are configuration mistakes an
# operator fixes, and retrying with backoff gives the jobs a chance to finish once fixed.


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, PermanentJobError):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return code in PERMANENT_AWS_CODES and code not in TRANSIENT_AWS_CODES
    return False


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (an outage, a fail-over): the
    statement did not run, or its commit's fate is unknown to this connection."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated)
