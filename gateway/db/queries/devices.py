"""Device status (last status message, staleness) and dead letters for the device admin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from dispatch.rows import column_list
from gateway.db.queries.fetch import fetch_all, fetch_one
from gateway.db.queries.filters import where
from gateway.db.rows import DeviceStatus


@dataclass(frozen=True, slots=True)
class DeviceStatusRow(DeviceStatus):
    """A device's latest status message; ``stale`` when offline or silent for 120 s."""

    stale: bool


_STATUS = sql.SQL("SELECT {} FROM device_status_live").format(column_list(DeviceStatusRow))


def device_statuses(
    conn: psycopg.Connection[Any], device_ids: Sequence[str] | None = None
) -> list[DeviceStatusRow]:
    """Status rows of those devices (None: every device the caller may see)."""
    clause, params = where(
        [(sql.SQL("device_id = ANY (%s)"), None if device_ids is None else (list(device_ids),))]
    )
    return fetch_all(
        conn, DeviceStatusRow, _STATUS + clause + sql.SQL(" ORDER BY device_id"), params
    )


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    """A message ingest could not take, and why."""

    id: int
    received_at: datetime
    topic: str
    device_id: str | None
    kind: str | None
    reason: str
    payload_size: int
    replayed_at: datetime | None
    replayed_by: str | None


_DEAD_COLUMNS = column_list(DeadLetterRow)


def list_dead_letters(
    conn: psycopg.Connection[Any],
    *,
    device: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[DeadLetterRow]:
    """Newest first; ``before_id`` pages on."""
    clause, params = where([(sql.SQL("device_id = %s"), device), (sql.SQL("id < %s"), before_id)])
    query = sql.SQL("SELECT {cols} FROM dead_letters{where} ORDER BY id DESC LIMIT %s").format(
        cols=_DEAD_COLUMNS, where=clause
    )
    return fetch_all(conn, DeadLetterRow, query, [*params, limit])


def dead_letter_payload(
    conn: psycopg.Connection[Any], dead_letter_id: int
) -> tuple[DeadLetterRow, bytes] | None:
    """One dead letter and its stored payload (the first 64 KiB of the message)."""
    query = sql.SQL("SELECT {cols} FROM dead_letters WHERE id = %s").format(cols=_DEAD_COLUMNS)
    row = fetch_one(conn, DeadLetterRow, query, (dead_letter_id,))
    if row is None:
        return None
    payload = conn.execute(
        "SELECT payload FROM dead_letters WHERE id = %s", (dead_letter_id,)
    ).fetchone()
    assert payload is not None
    return row, bytes(payload[0])


def mark_replayed(conn: psycopg.Connection[Any], dead_letter_id: int, by: str) -> None:
    conn.execute(
        "UPDATE dead_letters SET replayed_at = now(), replayed_by = %s WHERE id = %s",
        (by, dead_letter_id),
    )
