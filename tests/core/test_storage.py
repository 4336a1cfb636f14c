"""core/storage.py against moto: the presigned POST's policy, HEAD of a missing object, reading
in chunks, uploading from disk, and the upload origin a page's CSP allows."""
from __future__ import annotations

import base64
import json

import boto3
import pytest
from moto import mock_aws

from core.storage import UNCLAIMED_TAG, UNCLAIMED_TAGGING, S3Storage


@pytest.fixture
def storage(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="files")
        yield S3Storage(client, "files")


def test_the_upload_form_binds_key_type_and_size(storage):
    form = storage.upload_form("submissions/1/2/abc/a.pdf", "application/pdf", 1000, 60)
    assert form["url"].startswith("https://files.s3.amazonaws.com")
    assert form["fields"]["key"] == "submissions/1/2/abc/a.pdf"
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert {"Content-Type": "application/pdf"} in policy["conditions"]
    assert {"key": "submissions/1/2/abc/a.pdf"} in policy["conditions"] and {"bucket": "files"} in policy["conditions"]
    assert "expiration" in policy
    # Tagged until the worker's check keeps it: the lifecycle rule for abandoned uploads.
    assert {"tagging": UNCLAIMED_TAGGING} in policy["conditions"]
    assert form["fields"]["tagging"] == UNCLAIMED_TAGGING
    assert f"<Key>{UNCLAIMED_TAG[0]}</Key><Value>{UNCLAIMED_TAG[1]}</Value>" in UNCLAIMED_TAGGING


def test_head_is_none_for_a_missing_object(storage):
    assert storage.head("nothing/here") is None
    storage.put("x/y.txt", b"hello", "text/plain")
    head = storage.head("x/y.txt")
    assert head["ContentLength"] == 5 and head["ContentType"] == "text/plain"


def test_stream_reads_in_chunks(storage):
    data = bytes(range(256)) * 100
    storage.put("big.bin", data, "application/octet-stream")
    chunks = list(storage.stream("big.bin", chunk_size=1000))
    assert b"".join(chunks) == data and max(len(c) for c in chunks) <= 1000 and len(chunks) >= 26


def test_upload_file_and_delete(storage, tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    storage.upload_file(str(path), "zips/a.zip", "application/zip")
    assert storage.get("zips/a.zip") == path.read_bytes()
    assert storage.head("zips/a.zip")["ContentType"] == "application/zip"
    storage.delete("zips/a.zip")
    assert storage.head("zips/a.zip") is None


def test_the_upload_origin_is_the_forms_host(storage):
    assert storage.upload_origin == "https://files.s3.amazonaws.com"
    local = S3Storage(boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:4566"), "files")
    assert local.upload_origin == "http://127.0.0.1:4566"
