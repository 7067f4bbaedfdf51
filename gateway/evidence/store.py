"""The gateway's snapshot files, addressed by their SHA-256: ``ROOT/ab/cd/abcd....jpg``.

``SnapshotStore`` is what the gateway uses: ``FileStore`` here, or an S3-compatible
bucket (``gateway/evidence/s3.py``), as ``GRIDWATCH_SNAPSHOT_STORE`` says.

Content addressing makes storing idempotent (the same bytes land on the same
path, whoever sends them and however often) and makes every file its own proof:
its name is the hash the event carries. Writes go to a temporary file first and
are renamed into place, so a reader never sees half a JPEG.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

_SHA = re.compile(r"^[0-9a-f]{64}$")


class EvidenceError(Exception):
    """A snapshot that cannot be stored or read; the message names the hash and path."""


def snapshot_key(sha256: str) -> str:
    """``ab/cd/abcd….jpg``: where a hash lives under a folder or a bucket prefix."""
    if not _SHA.match(sha256):
        raise EvidenceError(f"snapshot hash {sha256!r} is not 64 lowercase hex digits")
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


def snapshot_path(root: Path, sha256: str) -> Path:
    return root / snapshot_key(sha256)


def store(root: Path, sha256: str, data: bytes) -> Path:
    """Put ``data`` under its hash (which must be its SHA-256); a no-op when present."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise EvidenceError(f"snapshot {sha256}: its bytes hash to {digest}")
    path = snapshot_path(root, sha256)
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise EvidenceError(f"snapshot {sha256}: cannot write {path}: {exc}") from exc
    return path


def read(root: Path, sha256: str) -> bytes | None:
    """The stored bytes, or None when there is no such file."""
    try:
        return snapshot_path(root, sha256).read_bytes()
    except FileNotFoundError:
        return None


def delete(root: Path, sha256: str) -> bool:
    path = snapshot_path(root, sha256)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


class SnapshotStore(Protocol):
    """Where the gateway keeps snapshot bytes, named by their SHA-256."""

    def put(self, sha256: str, data: bytes) -> None:
        """Keep ``data`` (whose SHA-256 must be ``sha256``); a no-op when present."""

    def get(self, sha256: str) -> bytes | None:
        """The bytes, or None when there are none under that hash."""

    def remove(self, sha256: str) -> bool:
        """Forget the bytes; False when there were none."""


@dataclass(frozen=True, slots=True)
class FileStore:
    """Files under ``root`` (``ab/cd/abcd….jpg``), written atomically."""

    root: Path

    def put(self, sha256: str, data: bytes) -> None:
        store(self.root, sha256, data)

    def get(self, sha256: str) -> bytes | None:
        return read(self.root, sha256)

    def remove(self, sha256: str) -> bool:
        return delete(self.root, sha256)


def as_store(where: Path | SnapshotStore) -> SnapshotStore:
    """A folder as a :class:`FileStore`; a store as it is."""
    return FileStore(where) if isinstance(where, Path) else where
