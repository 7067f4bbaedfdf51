"""Snapshot files waiting for the gateway's word, in their own small SQLite database.

Each evidence JPEG the camera writes is registered here with its hash. The
snapshot courier (``edge/snapshot_courier.py``) sends what is due and the gateway
answers with a ``SnapshotAck``: a stored hash deletes the row and the file, a
refused one (its bytes did not match its hash on arrival) is sent again, up to
``MAX_TRIES`` times, then dropped and counted. Nothing else deletes a file here,
so the snapshot folder holds exactly the files not yet acknowledged.

Apart from the event outbox on purpose: an event is forgotten when the gateway's
sequence mark passes it, a snapshot only when the gateway holds its bytes, which
may be later (or, for a file the event outbox dropped for space, never: a row
whose file is gone is forgotten when it comes due).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

#: Sends of one snapshot that the gateway refused before the box gives up on it.
MAX_TRIES = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    sha256    TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    path      TEXT NOT NULL,
    taken     TEXT NOT NULL,
    event_id  TEXT,
    role      TEXT NOT NULL,
    category  TEXT,
    sent      REAL,
    tries     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS snapshots_device ON snapshots (device_id, sent);
CREATE TABLE IF NOT EXISTS snapshot_drops (
    device_id TEXT NOT NULL,
    reason    TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (device_id, reason)
);
"""


@dataclass(frozen=True, slots=True)
class PendingSnapshot:
    sha256: str
    device_id: str
    path: Path
    taken: datetime
    event_id: UUID | None
    role: str
    category: str | None


class SnapshotQueue:
    """Thread-safe; one connection guarded by a lock."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, snap: PendingSnapshot) -> None:
        """Register a written file; the same hash twice is one snapshot."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO snapshots"
                " (sha256, device_id, path, taken, event_id, role, category)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    snap.sha256,
                    snap.device_id,
                    str(snap.path),
                    snap.taken.isoformat(),
                    None if snap.event_id is None else str(snap.event_id),
                    snap.role,
                    snap.category,
                ),
            )

    def due(
        self, device_id: str, *, now: float, resend_after_s: float, window: int
    ) -> list[PendingSnapshot]:
        """Snapshots to send now: never sent, or sent ``resend_after_s`` ago without an
        answer; at most ``window`` minus those sent recently and still unanswered."""
        with self._lock:
            (recent,) = self._db.execute(
                "SELECT count(*) FROM snapshots WHERE device_id = ? AND sent > ?",
                (device_id, now - resend_after_s),
            ).fetchone()
            rows = self._db.execute(
                "SELECT sha256, path, taken, event_id, role, category FROM snapshots"
                " WHERE device_id = ? AND (sent IS NULL OR sent <= ?) ORDER BY rowid LIMIT ?",
                (device_id, now - resend_after_s, max(0, window - int(recent))),
            ).fetchall()
        return [
            PendingSnapshot(
                sha,
                device_id,
                Path(path),
                datetime.fromisoformat(taken),
                None if eid is None else UUID(eid),
                role,
                cat,
            )
            for sha, path, taken, eid, role, cat in rows
        ]

    def mark_sent(self, sha256: str, now: float) -> None:
        with self._lock:
            self._db.execute("UPDATE snapshots SET sent = ? WHERE sha256 = ?", (now, sha256))

    def forget(self, device_id: str, shas: Iterable[str], reason: str | None = None) -> int:
        """Delete rows and their files; with ``reason``, count them as dropped."""
        return len(self._delete(device_id, list(shas), reason))

    def refused(self, device_id: str, shas: Iterable[str]) -> int:
        """Send refused snapshots again; past ``MAX_TRIES`` drop them. Returns drops."""
        shas = list(shas)
        with self._lock:
            for sha in shas:
                self._db.execute(
                    "UPDATE snapshots SET sent = NULL, tries = tries + 1"
                    " WHERE sha256 = ? AND device_id = ?",
                    (sha, device_id),
                )
            spent = [
                r[0]
                for r in self._db.execute(
                    "SELECT sha256 FROM snapshots WHERE device_id = ? AND tries >= ?",
                    (device_id, MAX_TRIES),
                ).fetchall()
            ]
        return len(self._delete(device_id, spent, "snapshot_refused"))

    def _delete(self, device_id: str, shas: list[str], reason: str | None) -> list[str]:
        paths: list[str] = []
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for sha in shas:
                    row = db.execute(
                        "DELETE FROM snapshots WHERE sha256 = ? AND device_id = ? RETURNING path",
                        (sha, device_id),
                    ).fetchone()
                    if row is None:
                        continue
                    paths.append(row[0])
                    if reason is not None:
                        db.execute(
                            "INSERT INTO snapshot_drops (device_id, reason, n) VALUES (?, ?, 1)"
                            " ON CONFLICT (device_id, reason) DO UPDATE SET n = n + 1",
                            (device_id, reason),
                        )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        # After the commit: a crash in between leaves a file without a row, never a
        # row that points at nothing the gateway holds.
        for p in paths:
            Path(p).unlink(missing_ok=True)
        return paths

    def pending(self, device_id: str | None = None) -> int:
        where, params = ("WHERE device_id = ?", (device_id,)) if device_id else ("", ())
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM snapshots " + where, params).fetchone()
        return int(n)

    def dropped(self, device_id: str) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT reason, n FROM snapshot_drops WHERE device_id = ?", (device_id,)
            ).fetchall()
        return {str(r): int(n) for r, n in rows}
