"""Write classified rows in one transaction and advance the acknowledgement marks.

Kept apart from the consumer loop so that the ingest issue can swap the
``INSERT ... ON CONFLICT`` statements for COPY into a staging table.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

import psycopg

from gateway.ingest.classify import (
    Classified,
    DeadLetter,
    EventRow,
    ReadingRow,
    StatusRow,
)
from gateway.ingest.marks import Mark, advance, first_mark, gaps

_EVENT_COLS = [f.name for f in fields(EventRow)]
_READING_COLS = [f.name for f in fields(ReadingRow)]
_STATUS_COLS = [f.name for f in fields(StatusRow)]
_DEAD_COLS = [f.name for f in fields(DeadLetter)]


def _values(cols: list[str], casts: dict[str, str] | None = None) -> str:
    casts = casts or {}
    return ", ".join(f"%s{casts.get(c, '')}" for c in cols)


# Every newly stored event row gets its dispatch_queue row in the same statement,
# so the dispatcher sees exactly the events that exist, each once.
INSERT_EVENT = (
    f"WITH ins AS (INSERT INTO events ({', '.join(_EVENT_COLS)})"
    f" VALUES ({_values(_EVENT_COLS, {'payload': '::jsonb'})})"
    " ON CONFLICT DO NOTHING RETURNING event_id, ts)"
    " INSERT INTO dispatch_queue (event_id, ts) SELECT event_id, ts FROM ins"
)
INSERT_READING = (
    f"INSERT INTO readings ({', '.join(_READING_COLS)}) VALUES ({_values(_READING_COLS)})"
    " ON CONFLICT DO NOTHING"
)
_STATUS_UPDATE = ", ".join(f"{c} = EXCLUDED.{c}" for c in _STATUS_COLS if c != "device_id")
# A retained status replayed on reconnect is older than what is stored: keep the newer.
UPSERT_STATUS = (
    f"INSERT INTO device_status ({', '.join(_STATUS_COLS)})"
    f" VALUES ({_values(_STATUS_COLS, {'dropped': '::jsonb', 'payload': '::jsonb'})})"
    f" ON CONFLICT (device_id) DO UPDATE SET {_STATUS_UPDATE}"
    " WHERE EXCLUDED.ts >= device_status.ts"
)
INSERT_DEAD = f"INSERT INTO dead_letters ({', '.join(_DEAD_COLS)}) VALUES ({_values(_DEAD_COLS)})"


@dataclass(frozen=True)
class WriteResult:
    """What one committed transaction stored."""

    new_events: int
    duplicate_events: int
    readings: int
    statuses: int
    dead_letters: int
    #: Device id -> highest seq committed without a gap, for devices in this batch.
    marks: dict[str, int]
    #: Device id -> missing (first, last) ranges below its highest committed seq.
    gaps: dict[str, list[tuple[int, int]]]


def _advance_marks(
    cur: psycopg.Cursor, seqs: dict[str, list[int]]
) -> tuple[dict[str, int], dict[str, list[tuple[int, int]]]]:
    if not seqs:
        return {}, {}
    devices = sorted(seqs)  # one lock order for every replica: no deadlocks
    cur.executemany(
        "INSERT INTO ingest_marks (device_id, committed_seq) VALUES (%s, %s)"
        " ON CONFLICT (device_id) DO NOTHING",
        [(d, first_mark(seqs[d]).committed) for d in devices],
    )
    cur.execute(
        "SELECT device_id, committed_seq, pending FROM ingest_marks"
        " WHERE device_id = ANY(%s) ORDER BY device_id FOR UPDATE",
        (devices,),
    )
    current = {d: Mark(int(c), tuple(p or ())) for d, c, p in cur.fetchall()}
    marks: dict[str, int] = {}
    missing: dict[str, list[tuple[int, int]]] = {}
    updates = []
    for device in devices:
        new = advance(current[device], seqs[device])
        marks[device] = new.committed
        if new.pending:
            missing[device] = gaps(new)
        updates.append((new.committed, list(new.pending), device))
    cur.executemany(
        "UPDATE ingest_marks SET committed_seq = %s, pending = %s, updated_at = now()"
        " WHERE device_id = %s",
        updates,
    )
    return marks, missing


def write(conn: psycopg.Connection, rows: Classified) -> WriteResult:
    """Store everything in ``rows`` in one transaction; psycopg.Error leaves nothing stored."""
    with conn.transaction(), conn.cursor() as cur:
        new_events = 0
        if rows.events:
            cur.executemany(INSERT_EVENT, [astuple(r) for r in rows.events])
            new_events = max(cur.rowcount, 0)
        if rows.readings:
            cur.executemany(INSERT_READING, [astuple(r) for r in rows.readings])
        if rows.statuses:
            cur.executemany(UPSERT_STATUS, [astuple(r) for r in rows.statuses])
        if rows.dead_letters:
            cur.executemany(INSERT_DEAD, [astuple(r) for r in rows.dead_letters])
        seen = sorted(rows.devices_seen() - {s.device_id for s in rows.statuses})
        if seen:
            # Any message proves the device is alive, not only its heartbeat.
            cur.execute(
                "UPDATE device_status SET last_seen = greatest(last_seen, now())"
                " WHERE device_id = ANY(%s)",
                (seen,),
            )
        marks, missing = _advance_marks(cur, rows.seqs_by_device())
    return WriteResult(
        new_events=new_events,
        duplicate_events=len(rows.events) - new_events,
        readings=len(rows.readings),
        statuses=len(rows.statuses),
        dead_letters=len(rows.dead_letters),
        marks=marks,
        gaps=missing,
    )
