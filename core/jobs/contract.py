"""The job-type contract: what every job type declares once (core/jobs/types.py) and both tiers
rely on: its name, a typed payload that validates itself, its retry and time-limit policy,
whether identical requests coalesce, and a label for people.

Payloads are pydantic models (strict: no "3" for 3, no true for 1), so the same class
turns a request into a payload on the web tier (400s name the field at fault) and a stored
row back into one on the worker. Unknown keys are ignored, and every field added later has a
default, so rows and messages written by an older or newer release still load.
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from core.parsing import MAX_ID, InputError


class Payload(BaseModel):
    """Base of every job payload."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _integral(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer; strict mode would not.
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_ID else value


Id = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=MAX_ID)]
P = TypeVar("P", bound=Payload)


def _input_error(exc: ValidationError) -> InputError:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "payload"
    kind, message = first["type"], first["msg"]
    if kind == "missing":
        return InputError(field, f"{field} is required")
    if kind == "literal_error":
        return InputError(field, f"{field} must be one of {first['ctx']['expected']}")
    return InputError(field, f"{field}: {message[0].lower()}{message[1:]}")


@dataclass(frozen=True)
class JobType(Generic[P]):
    name: str
    payload: type[P]
    label: str
    time_limit_seconds: int
    max_attempts: int = 5
    backoff_base_seconds: float = 10
    backoff_cap_seconds: float = 3600
    # An identical request (same type, owner, payload) already in flight returns that job.
    coalesce: bool = False

    def parse(self, data: Mapping[str, Any]) -> P:
        """A payload from untrusted input; InputError (a 400 naming the field) if it is not one."""
        if not isinstance(data, Mapping):
            raise InputError("payload", "the payload must be a JSON object")
        try:
            return self.payload.model_validate(dict(data))
        except ValidationError as exc:
            raise _input_error(exc) from None

    def dump(self, payload: P) -> dict[str, Any]:
        """What the job row stores."""
        if not isinstance(payload, self.payload):
            raise TypeError(f"a {self.name} job takes a {self.payload.__name__}, not {type(payload).__name__}")
        return payload.model_dump(mode="json")

    @property
    def lease(self) -> timedelta:
        # The lease outlives the time limit a little, so a slow-but-alive run is not reclaimed
        # while it is still allowed to finish.
        return timedelta(seconds=self.time_limit_seconds + 30)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        """Exponential backoff with "equal jitter": half fixed, half random, so retries of jobs
        that failed together (an SES outage) spread out instead of arriving in lockstep."""
        ceiling = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** max(attempt - 1, 0))
        return timedelta(seconds=ceiling / 2 + (rng or random).uniform(0, ceiling / 2))

