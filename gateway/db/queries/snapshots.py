"""Stored snapshots as the API sees them: row-level security (migration 0040) shows a
snapshot to whoever sees the event that holds it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from gateway.db.queries.fetch import fetch_one


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    sha256: str
    device_id: str
    event_id: UUID | None
    role: str
    category: str | None
    nbytes: int
    taken_at: datetime
    received_at: datetime


_ONE = sql.SQL(
    "SELECT sha256, device_id, event_id, role, category, nbytes, taken_at, received_at"
    " FROM snapshots WHERE sha256 = %s"
)


def get_snapshot(conn: psycopg.Connection[Any], sha256: str) -> SnapshotRow | None:
    """One stored snapshot by hash; None when absent or outside the caller's scope."""
    return fetch_one(conn, SnapshotRow, _ONE, (sha256,))
