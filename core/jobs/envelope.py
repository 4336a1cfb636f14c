"""The SQS message body: a small versioned envelope, never the payload.

The worker loads the job row by id; the payload lives in the database. Readers ignore fields
they do not know, so a message written by a newer web tier during a rolling deploy still runs.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

ENVELOPE_VERSION = 1


class EnvelopeError(ValueError):
    """The body is not an envelope at all."""


class UnsupportedVersion(EnvelopeError):
    """A well-formed envelope from a newer release (a rolling deploy not finished yet)."""


@dataclass(frozen=True)
class Envelope:
    job_id: uuid.UUID
    type: str
    trace_id: str
    v: int = ENVELOPE_VERSION

    def to_json(self) -> str:
        return json.dumps({"v": self.v, "job_id": str(self.job_id), "type": self.type, "trace_id": self.trace_id})

    @classmethod
    def parse(cls, body: bytes | str) -> Envelope:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EnvelopeError(f"body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise EnvelopeError("body must be a JSON object")
        version = data.get("v")
        if not isinstance(version, int) or isinstance(version, bool):
            raise EnvelopeError("envelope field 'v' must be an integer")
        if version > ENVELOPE_VERSION:
            raise UnsupportedVersion(f"envelope version {version} is newer than this worker understands ({ENVELOPE_VERSION})")
        try:
            job_id = uuid.UUID(str(data.get("job_id")))
        except ValueError:
            raise EnvelopeError("envelope field 'job_id' must be a UUID") from None
        job_type = data.get("type")
        if not isinstance(job_type, str) or not job_type:
            raise EnvelopeError("envelope field 'type' must be a non-empty string")
        trace_id = data.get("trace_id")
        return cls(job_id=job_id, type=job_type, trace_id=trace_id if isinstance(trace_id, str) else "", v=version)
