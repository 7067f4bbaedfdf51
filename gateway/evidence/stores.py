"""The gateway's snapshot store as the settings configure it (GRIDWATCH_SNAPSHOT_STORE)."""

from __future__ import annotations

import threading

from gateway.evidence.store import FileStore, SnapshotStore
from gridwatch.settings import Settings

_lock = threading.Lock()
#: One S3 client per configuration: making one costs tens of milliseconds.
_s3: dict[tuple[str, str, str | None, str | None], SnapshotStore] = {}


def open_store(settings: Settings) -> SnapshotStore:
    """Files under ``snapshot_root``, or the configured bucket (connects on first use)."""
    if settings.snapshot_store == "file" or settings.snapshot_s3_bucket is None:
        return FileStore(settings.snapshot_root)
    from gateway.evidence.s3 import S3Store

    key = (
        settings.snapshot_s3_bucket,
        settings.snapshot_s3_prefix,
        settings.snapshot_s3_endpoint,
        settings.snapshot_s3_region,
    )
    with _lock:
        found = _s3.get(key)
        if found is None:
            found = _s3[key] = S3Store(key[0], prefix=key[1], endpoint_url=key[2], region=key[3])
    return found
