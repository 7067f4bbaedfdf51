"""Device status (last status message, staleness) and dead letters for the device admin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from gateway.db.queries.filters import where


@dataclass(frozen=True, slots=True)
class DeviceStatusRow:
    """A device's latest status message; ``stale`` when offline or silent for 120 s."""

    device_id: str
    state: str
    ts: datetime
    last_seen: datetime
    fps: float | None
    last_frame_ts: datetime | None
    sw_version: str | None
    contract_version: str | None
    clock_offset_s: float | None
    outbox_items: int | None
    detail: str | None
    stale: bool


_STATUS = sql.SQL(
    "SELECT device_id, state, ts, last_seen, fps, last_frame_ts, sw_version, contract_version,"
    " clock_offset_s, outbox_items, detail, stale FROM device_status_live"
)


def device_statuses(
    conn: psycopg.Connection[Any], device_ids: Sequence[str] | None = None
) -> list[DeviceStatusRow]:
    """Status rows of those devices (None: every device the caller may see)."""
    clause, params = where(
        [(sql.SQL("device_id = ANY (%s)"), None if device_ids is None else (list(device_ids),))]
    )
    with conn.cursor(row_factory=class_row(DeviceStatusRow)) as cur:
        cur.execute(_STATUS + clause + sql.SQL(" ORDER BY device_id"), params)
        return cur.fetchall()


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


_DEAD_COLUMNS = sql.SQL(
    "id, received_at, topic, device_id, kind, reason, payload_size, replayed_at, replayed_by"
)


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
    with conn.cursor(row_factory=class_row(DeadLetterRow)) as cur:
        cur.execute(query, [*params, limit])
        return cur.fetchall()


def dead_letter_payload(
    conn: psycopg.Connection[Any], dead_letter_id: int
) -> tuple[DeadLetterRow, bytes] | None:
    """One dead letter and its stored payload (the first 64 KiB of the message)."""
    with conn.cursor(row_factory=class_row(DeadLetterRow)) as cur:
        cur.execute(
            sql.SQL("SELECT {cols} FROM dead_letters WHERE id = %s").format(cols=_DEAD_COLUMNS),
            (dead_letter_id,),
        )
        row = cur.fetchone()
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
