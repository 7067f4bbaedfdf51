"""Snapshots in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW), by their SHA-256.

The key is ``PREFIX/ab/cd/abcd….jpg``, the same layout as the file store. S3 writes
an object whole or not at all, so a reader never sees half a JPEG, and the same hash
twice is one object. ``boto3`` is imported when a store is made, never at import;
credentials come the way boto3 finds them (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role). Making a store connects to
nothing; the first request does.
"""

from __future__ import annotations

import hashlib
from typing import Any

from gateway.evidence.store import EvidenceError, snapshot_key

#: The error codes S3 answers a missing key with (GetObject, and HEAD-style 404s).
_MISSING = frozenset({"NoSuchKey", "404"})


class S3Store:
    """One bucket, one key prefix; thread-safe (boto3 clients are)."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "snapshots",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self._s3 = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key(self, sha256: str) -> str:
        rel = snapshot_key(sha256)
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _where(self, sha256: str) -> str:
        return f"s3://{self.bucket}/{self.key(sha256)}"

    def put(self, sha256: str, data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise EvidenceError(f"snapshot {sha256}: its bytes hash to {digest}")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=self.key(sha256),
                Body=data,
                ContentType="image/jpeg",
                # The store checks the bytes on arrival too.
                ChecksumAlgorithm="SHA256",
            )
        except (BotoCoreError, ClientError) as exc:
            raise EvidenceError(
                f"snapshot {sha256}: cannot write {self._where(sha256)}: {exc}"
            ) from exc

    def get(self, sha256: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            obj = self._s3.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except (BotoCoreError, ClientError) as exc:
            code = (
                exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
            )
            if code in _MISSING:
                return None
            raise EvidenceError(
                f"snapshot {sha256}: cannot read {self._where(sha256)}: {exc}"
            ) from exc
        return bytes(obj["Body"].read())

    def remove(self, sha256: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError:
            return False
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        except (BotoCoreError, ClientError) as exc:
            raise EvidenceError(
                f"snapshot {sha256}: cannot delete {self._where(sha256)}: {exc}"
            ) from exc
        return True
