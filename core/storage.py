"""Stored files in S3 (reports, submitted work, ZIPs of submissions); locally, moto's S3 endpoint.

Uploads from browsers never pass through the web tier: it signs a POST policy
(`upload_form`) that S3 itself enforces (this key only, this Content-Type, at most this many
bytes), and the worker reads what arrived (`head`, `stream`) to check it."""
from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

STREAM_CHUNK = 256 * 1024
#: The tag a browser upload arrives with until the worker's check keeps it; the bucket's
#: lifecycle rule `expire-unclaimed-uploads` (infra/aula-ops.yaml) filters on it.
UNCLAIMED_TAG = ("aula-upload", "unclaimed")
UNCLAIMED_TAGGING = (f"<Tagging><TagSet><Tag><Key>{UNCLAIMED_TAG[0]}</Key><Value>{UNCLAIMED_TAG[1]}</Value></Tag>"
                     "</TagSet></Tagging>")


class S3Storage:
    def __init__(self, s3_client: Any, bucket: str):
        self.s3 = s3_client
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        # A deterministic key per job makes a redelivered job overwrite its own file
        # instead of storing a second one.
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def download_url(self, key: str, filename: str, expires_in: int) -> str:
        return self.s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires_in,
        )

    def upload_form(self, key: str, content_type: str, max_bytes: int, expires_in: int) -> dict[str, Any]:
        """A presigned POST for one upload: `url` and the form `fields` to send before the file.
        The policy admits exactly this key, exactly this Content-Type and 1 to `max_bytes` bytes;
        S3 refuses anything else (403/400), so a page's checks are only for people. The object
        arrives tagged UNCLAIMED_TAG (the policy requires the field): the bucket's lifecycle
        expires what keeps the tag, an upload never handed in, and `claim` removes it."""
        form = self.s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type, "tagging": UNCLAIMED_TAGGING},
            Conditions=[{"Content-Type": content_type}, {"tagging": UNCLAIMED_TAGGING},
                        ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return {"url": form["url"], "fields": form["fields"]}

    def claim(self, key: str) -> None:
        """Keep an upload: drop its UNCLAIMED_TAG, so the lifecycle rule for abandoned uploads
        (infra/aula-ops.yaml) leaves it alone. Idempotent; an object without tags is fine."""
        self.s3.delete_object_tagging(Bucket=self.bucket, Key=key)

    def unclaim(self, key: str) -> bool:
        """Give an upload back to the lifecycle rule for abandoned uploads: `claim` undone, for a
        checked file a resubmission dropped. Idempotent; False for a key already gone."""
        try:
            self.s3.put_object_tagging(Bucket=self.bucket, Key=key,
                                       Tagging={"TagSet": [{"Key": UNCLAIMED_TAG[0], "Value": UNCLAIMED_TAG[1]}]})
        except self.s3.exceptions.NoSuchKey:
            return False
        return True

    def tags(self, key: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]}

    @cached_property
    def upload_origin(self) -> str:
        """The origin (scheme://host[:port]) browsers POST uploads to: what a page's
        Content-Security-Policy must allow them to connect to. Signing needs no request."""
        url = urlsplit(self.s3.generate_presigned_post(Bucket=self.bucket, Key="origin")["url"])
        return f"{url.scheme}://{url.netloc}"

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's metadata (ContentLength, ContentType, ...), or None when there is none."""
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def stream(self, key: str, chunk_size: int = STREAM_CHUNK) -> Iterator[bytes]:
        """The object's bytes in chunks, never all of it in memory."""
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def upload_file(self, path: str, key: str, content_type: str) -> None:
        """A file on disk, in parts for a large one (boto3's managed transfer)."""
        self.s3.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": content_type})

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)
