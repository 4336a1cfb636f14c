"""How a handler tells the runner what kind of failure it hit.

Anything not classified is treated as transient: it is retried with backoff until the job
type's max attempts, so a bug still ends as `failed` with its error instead of looping.
"""


class PermanentJobError(Exception):
    """Retrying cannot help (missing data, bad input): the job fails at once."""


class TransientJobError(Exception):
    """Worth retrying later (throttling, a dependency briefly down)."""


class JobCancelled(Exception):
    """The owner cancelled the job; raised at a progress point."""


class TimeLimitExceeded(TransientJobError):
    """The run went past its job type's time limit; seen at a progress point."""
