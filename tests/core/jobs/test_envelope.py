"""The SQS message envelope: round trip, strict on what it needs, lenient on what it does not."""
from __future__ import annotations

import json
import uuid

import pytest

from core.jobs.envelope import ENVELOPE_VERSION, Envelope, EnvelopeError, UnsupportedVersion

JOB_ID = uuid.UUID("8c0b6a52-7f1e-4d0c-9a57-3f4f2d1e0b11")


def _body(**fields) -> str:
    data = {"v": ENVELOPE_VERSION, "job_id": str(JOB_ID), "type": "report", "trace_id": "abc123"}
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def test_round_trip():
    envelope = Envelope(job_id=JOB_ID, type="report", trace_id="abc123")
    assert Envelope.parse(envelope.to_json()) == envelope
    assert Envelope.parse(envelope.to_json().encode()) == envelope


def test_the_body_carries_only_the_envelope_fields():
    data = json.loads(Envelope(job_id=JOB_ID, type="report", trace_id="t").to_json())
    assert data == {"v": ENVELOPE_VERSION, "job_id": str(JOB_ID), "type": "report", "trace_id": "t"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"\x80\x81 not utf-8",
        b"[1, 2]",
        b'"a string"',
        b"null",
        _body(v=...),
        _body(v=True),
        _body(v="1"),
        _body(v=1.0),
        _body(job_id=...),
        _body(job_id="not-a-uuid"),
        _body(job_id=12345),
        _body(type=...),
        _body(type=""),
        _body(type=7),
    ],
)
def test_a_malformed_body_raises_envelope_error(body):
    with pytest.raises(EnvelopeError) as caught:
        Envelope.parse(body)
    # Malformed is not "newer": the worker dead-letters the first but waits out the second.
    assert not isinstance(caught.value, UnsupportedVersion)


def test_a_newer_version_raises_unsupported_version():
    with pytest.raises(UnsupportedVersion):
        Envelope.parse(_body(v=ENVELOPE_VERSION + 1))


def test_a_newer_version_is_recognised_even_if_its_other_fields_changed():
    with pytest.raises(UnsupportedVersion):
        Envelope.parse(json.dumps({"v": ENVELOPE_VERSION + 1, "id": "renamed-field"}))


def test_unknown_fields_are_ignored():
    envelope = Envelope.parse(_body(added_later={"x": 1}, priority=5))
    assert envelope == Envelope(job_id=JOB_ID, type="report", trace_id="abc123")


def test_a_missing_trace_id_is_tolerated():
    envelope = Envelope.parse(_body(trace_id=...))
    assert (envelope.job_id, envelope.type, envelope.trace_id) == (JOB_ID, "report", "")
